package lms.realtime.transport.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One WebSocket on the netty transport: its outbox ({@link LoopOutbox}: writes on the channel's
 * loop, the backlog, 4008), the close handshake and the keep-alive; its reading side is a
 * {@link SocketInbound}. The close frame goes ahead of the backlog and nothing follows it but TCP's
 * FIN; the socket then reads (and drops) what the peer still sends until it closes too.
 */
final class NettySocket extends LoopOutbox {
  static final String NAME = "socket";
  private static final byte[] KEEP_ALIVE_PING = Frame.control(Frame.OP_PING, new byte[0], 0).wire();
  private static final Frame EMPTY_CLOSE = Frame.control(Frame.OP_CLOSE, new byte[0], 0);

  private final long keepAliveNanos;
  private final long closeTimeoutNanos;
  private volatile ActorRef<MemberInbox> connection;
  private SocketInbound inbound;

  // --- the loop's own state ---
  private boolean closeReceived;
  /** After broken framing: the socket ends as soon as the close frame is out. */
  private boolean endAfterClose;
  private ScheduledFuture<?> timer;

  NettySocket(NettyTransport transport, Channel channel) {
    super(transport.settings, transport.node.metrics(), channel, transport.socketDrainerOf(channel.eventLoop()));
    this.keepAliveNanos = settings.keepAliveIdle().toNanos();
    this.closeTimeoutNanos = settings.limits().closeHandshakeTimeout().toNanos();
  }

  @Override
  protected byte[] bytes(Frame frame) {
    return frame.wire();
  }

  /** The reading side, once bound. */
  ChannelHandler handler() {
    return inbound;
  }

  /** The admitted socket's actor; it hears when the channel is gone, whenever that happens. On the loop. */
  void bind(ActorRef<MemberInbox> connection, Gate gate) {
    this.connection = connection;
    this.inbound = new SocketInbound(this, channel, connection, gate, metrics, settings.limits().inboundInFlight());
    channel.closeFuture().addListener(f -> {
      gone = true;
      cancelTimer();
      connection.tell(Connection.SocketClosed.INSTANCE);
    });
  }

  /** The 101 is written and the WebSocket handlers are in place. On the loop. */
  void opened() {
    inbound.opened();
    attach();
    if (!closeSent) {
      scheduleKeepAlive();
    }
  }

  // ------------------------------------------------------------------ out

  @Override
  protected void writeClose() {
    if (closeSent || gone) {
      return;
    }
    closeSent = true;
    dropBacklog();
    cancelTimer();
    inbound.dropInput();
    ChannelFuture written = channel.writeAndFlush(Unpooled.wrappedBuffer(pendingClose.wire()));
    if (endAfterClose || closeReceived || finished) {
      written.addListener(ChannelFutureListener.CLOSE);
    } else {
      written.addListener((ChannelFutureListener) this::closeFrameOut);
    }
  }

  /**
   * Our close frame is in the kernel, behind whatever was written before it: TCP's FIN goes right
   * behind it, and the socket stays open, reading, until the peer closes. Closing it while the peer
   * still sends (a slow reader keeps its heartbeat) would make the kernel answer with a reset and
   * drop what it had not sent yet, the close frame included: the client would see 1006. A slow
   * reader (4008) may take a while to read what is ahead of the close frame: its bound is the close
   * grace (its actor's); any other peer has the close-handshake timeout from now.
   */
  private void closeFrameOut(ChannelFuture written) {
    if (!written.isSuccess() || gone) {
      channel.close();
      return;
    }
    ((DuplexChannel) channel).shutdownOutput();
    if (closeCode() != CloseCodes.SLOW_CONSUMER) {
      timer = loop.schedule(() -> {
        channel.close();
      }, closeTimeoutNanos, TimeUnit.NANOSECONDS);
    }
  }

  @Override
  public void complete() {
    onLoop(() -> {
      finished = true;
      dropBacklog();
      if (connection == null) {
        return; // never admitted: the HTTP connection goes on with the refusal's answer
      }
      if (attached && pendingClose != null && !closeSent) {
        writeClose();
      } else {
        channel.close();
      }
    });
  }

  private void scheduleKeepAlive() {
    if (keepAliveNanos > 0) {
      timer = loop.schedule(this::keepAlive, keepAliveNanos, TimeUnit.NANOSECONDS);
    }
  }

  /** For proxies that cut quiet connections: a ping when nothing else went out for a period. */
  private void keepAlive() {
    if (closeSent || gone) {
      return;
    }
    if (!wrote) {
      channel.writeAndFlush(Unpooled.wrappedBuffer(KEEP_ALIVE_PING), channel.voidPromise());
    }
    wrote = false;
    scheduleKeepAlive();
  }

  private void cancelTimer() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  // ------------------------------------------------------------------ in (told by SocketInbound)

  /** The channel is closed (set on the loop). */
  boolean gone() {
    return gone;
  }

  /** A WebSocket ping's pong, unless our close is out. */
  void pong(ChannelHandlerContext ctx, PingWebSocketFrame ping) {
    if (!closeSent) {
      wrote = true;
      ctx.writeAndFlush(new PongWebSocketFrame(ping.content().retain()), ctx.voidPromise());
    }
  }

  /** After broken framing: the socket ends as soon as the close frame is out. */
  void endAfterClose() {
    endAfterClose = true;
  }

  /** The client's close: answered with its own code (or an empty close), then the socket ends. */
  void clientClosed(CloseWebSocketFrame close) {
    closeReceived = true;
    if (closeSent) {
      channel.close();
      return;
    }
    if (close.content().readableBytes() == 0) {
      pendingClose = EMPTY_CLOSE;
    } else if (close.statusCode() > 4999) {
      // Netty's decoder takes any code from 3000 up; RFC 6455 §7.4.2 defines none above 4999
      pendingClose = Frame.close(CloseCodes.PROTOCOL_ERROR, "bad close code");
      endAfterClose = true;
    } else {
      pendingClose = Frame.close(close.statusCode(), "");
    }
    writeClose();
  }
}

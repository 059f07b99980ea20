package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One WebSocket on the netty transport: its outbox, the close handshake and the keep-alive; its
 * reading side is a {@link SocketInbound}. Everything that touches the channel runs on the channel's
 * event loop; senders on other threads hand their frame to that loop, and a room's event reaches
 * every member of a loop in one task ({@link LoopDrainer}).
 *
 * <p><b>Out</b>: a frame is written and flushed at once while the channel is writable. When it is
 * not (the peer reads slowly: Netty's high water mark is passed), frames wait in a {@link Backlog},
 * written as soon as the channel is writable again; a backlog past its bounds is a slow reader,
 * closed with 4008. Nothing polls. The close frame goes ahead of the backlog and nothing follows it
 * but TCP's FIN; the socket then reads (and drops) what the peer still sends until it closes too.
 */
final class NettySocket extends Outbox {
  static final String NAME = "socket";
  private static final byte[] KEEP_ALIVE_PING = Frame.control(Frame.OP_PING, new byte[0], 0).wire();
  private static final Frame EMPTY_CLOSE = Frame.control(Frame.OP_CLOSE, new byte[0], 0);

  private final Channel channel;
  private final EventLoop loop;
  private final LoopDrainer drainer;
  private final long keepAliveNanos;
  private final long closeTimeoutNanos;
  private volatile ActorRef<MemberInbox> connection;
  private SocketInbound inbound;

  // --- the loop's own state ---
  private boolean upgraded;
  private boolean gone;
  private boolean closeSent;
  private boolean closeReceived;
  /** After broken framing: the socket ends as soon as the close frame is out. */
  private boolean endAfterClose;
  /** The connection actor has stopped. */
  private boolean finished;
  /** Something was written since the last keep-alive check. */
  private boolean wrote;
  private Frame first;
  private Frame pendingClose;
  /** Null while nothing waits. */
  private Backlog backlog;
  private ScheduledFuture<?> timer;

  NettySocket(NettyTransport transport, Channel channel) {
    super(transport.settings, transport.node.metrics());
    this.channel = channel;
    this.loop = channel.eventLoop();
    this.drainer = transport.drainerOf(loop);
    this.keepAliveNanos = settings.keepAliveIdle().toNanos();
    this.closeTimeoutNanos = settings.closeHandshakeTimeout().toNanos();
  }

  /** The reading side, once bound. */
  ChannelHandler handler() {
    return inbound;
  }

  @Override
  public Drainer drainer() {
    return drainer;
  }

  /** The admitted socket's actor; it hears when the channel is gone, whenever that happens. On the loop. */
  void bind(ActorRef<MemberInbox> connection, Gate gate) {
    this.connection = connection;
    this.inbound = new SocketInbound(this, channel, connection, gate, metrics, settings.inboundInFlight());
    channel.closeFuture().addListener(f -> {
      gone = true;
      cancelTimer();
      connection.tell(Connection.SocketClosed.INSTANCE);
    });
  }

  /** The 101 is written and the WebSocket handlers are in place. On the loop. */
  void opened() {
    upgraded = true;
    inbound.opened();
    if (pendingClose != null) {
      writeClose();
      return;
    }
    if (first != null) {
      channel.write(Unpooled.wrappedBuffer(first.wire()), channel.voidPromise());
      first = null;
    }
    drainBacklog();
    channel.flush();
    scheduleKeepAlive();
  }

  @Override
  public void welcome(Frame frame) {
    onLoop(() -> first = frame);
  }

  // ------------------------------------------------------------------ out

  @Override
  public void send(Frame frame) {
    if (isClosing()) {
      return;
    }
    if (loop.inEventLoop()) {
      write(frame);
    } else {
      loop.execute(() -> write(frame));
    }
  }

  /** A frame from one sender; on the loop. */
  private void write(Frame frame) {
    if (!open()) {
      return;
    }
    metrics.framesOut(1);
    if (mustQueue() || frame.size() > settings.outgoingBytes()) {
      queue(frame);
      return;
    }
    wrote = true;
    channel.writeAndFlush(Unpooled.wrappedBuffer(frame.wire()), channel.voidPromise());
  }

  /** A frame of a fan-out batch, already in a shared buffer; on the loop. */
  void writeShared(ByteBuf shared, Frame frame) {
    if (!open()) {
      return;
    }
    if (mustQueue() || frame.size() > settings.outgoingBytes()) {
      queue(frame);
      return;
    }
    wrote = true;
    channel.writeAndFlush(shared.retainedDuplicate(), channel.voidPromise());
  }

  private boolean open() {
    return !isClosing() && !closeSent && !finished && !gone;
  }

  private boolean mustQueue() {
    return !upgraded || backlog != null || !channel.isWritable();
  }

  /** Into the backlog, within its bounds in frames and in bytes; past them the socket is a slow reader. */
  private void queue(Frame frame) {
    if (backlog == null) {
      backlog = new Backlog(settings.outgoingBuffer(), settings.outgoingBytes());
    }
    if (!backlog.add(frame)) {
      backlog = null;
      overflow();
    }
  }

  /** The channel is writable again (or the 101 is out): what waited goes. */
  void drainBacklog() {
    if (backlog == null || !upgraded || closeSent) {
      return;
    }
    boolean any = backlog.writeTo(channel);
    if (backlog.isEmpty()) {
      backlog = null;
    }
    if (any) {
      wrote = true;
      channel.flush();
    }
  }

  @Override
  protected void closeNow(Frame closeFrame) {
    onLoop(() -> {
      pendingClose = closeFrame;
      backlog = null;
      if (upgraded) {
        writeClose();
      }
    });
  }

  private void writeClose() {
    if (closeSent || gone) {
      return;
    }
    closeSent = true;
    backlog = null;
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
  public void abort() {
    channel.close();
  }

  @Override
  public void complete() {
    onLoop(() -> {
      finished = true;
      backlog = null;
      if (connection == null) {
        return; // never admitted: the HTTP connection goes on with the refusal's answer
      }
      if (upgraded && pendingClose != null && !closeSent) {
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

  private void onLoop(Runnable task) {
    if (loop.inEventLoop()) {
      task.run();
    } else {
      loop.execute(task);
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

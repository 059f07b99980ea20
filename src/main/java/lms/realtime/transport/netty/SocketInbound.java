package lms.realtime.transport.netty;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
import lms.realtime.session.Incoming;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The reading side of one {@link NettySocket}: the channel handler behind Netty's decoder, UTF-8
 * validator and aggregator. A text message goes to the {@link Connection} actor, and reading stops
 * while the actor has {@code lms.limits.inbound-in-flight} messages it has not taken yet; the
 * client's {@code ping} frames (its heartbeat) are answered here through the socket's {@link Gate}.
 * The codec's findings (1002, 1007, 1009) go to the actor; WebSocket pings and the client's close
 * are handed to the socket, which answers them.
 */
final class SocketInbound extends ChannelInboundHandlerAdapter {
  private final NettySocket socket;
  private final Channel channel;
  private final ActorRef<MemberInbox> connection;
  private final Gate gate;
  private final Metrics metrics;
  private final int maxUnacked;
  /** Nothing more is read (a close or broken framing came). */
  private boolean inputDone;

  // --- back-pressure on reading: messages handed to the actor and not yet taken ---
  private final AtomicInteger unacked = new AtomicInteger();
  private volatile boolean paused;
  private final Runnable ack = this::ack;

  SocketInbound(NettySocket socket, Channel channel, ActorRef<MemberInbox> connection, Gate gate,
      Metrics metrics, int maxUnacked) {
    this.socket = socket;
    this.channel = channel;
    this.connection = connection;
    this.gate = gate;
    this.metrics = metrics;
    this.maxUnacked = maxUnacked;
  }

  /** The WebSocket is up; nothing is read before the actor has seen it open (its ack lets reading start). */
  void opened() {
    unacked.incrementAndGet();
    paused = true;
    connection.tell(new Connection.SocketOpened(ack));
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (msg instanceof TextWebSocketFrame frame) {
        if (!inputDone && !socket.isClosing()) {
          onText(frame.text());
        }
      } else if (msg instanceof BinaryWebSocketFrame) {
        if (!inputDone && !socket.isClosing()) {
          deliver(Incoming.Binary.INSTANCE);
        }
      } else if (msg instanceof PingWebSocketFrame ping) {
        if (!inputDone) {
          socket.pong(ctx, ping);
        }
      } else if (msg instanceof CloseWebSocketFrame close) {
        inputDone = true;
        socket.clientClosed(close);
      }
      // pongs answer our keep-alive; nothing else can come from the decoder
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (channel.isWritable()) {
      socket.drainBacklog();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof CorruptedWebSocketFrameException || cause instanceof TooLongFrameException) {
      onBrokenInput(cause);
    } else {
      ctx.close(); // the peer reset the connection, or worse
    }
  }

  private void onText(String text) {
    // a ping is answered here only while no frame is with the actor (its answers go first)
    if (unacked.get() > 0 || !gate.answerPing(text, socket, connection, metrics)) {
      deliver(new Incoming.Text(text));
    }
  }

  /** Netty's codec found broken framing (1002), bad UTF-8 (1007) or a message over the bound (1009). */
  private void onBrokenInput(Throwable cause) {
    if (inputDone) {
      return;
    }
    inputDone = true;
    if (cause instanceof CorruptedWebSocketFrameException corrupt && corrupt.closeStatus().code() != CloseCodes.TOO_LARGE) {
      socket.endAfterClose(); // broken framing: the decoder reads nothing more, not even a close
      connection.tell(new MemberInbox.Close(corrupt.closeStatus().code(), corrupt.getMessage()));
    } else {
      // Over the bound (at a frame's header, or fragments past it): the rest is skipped as it comes,
      // and the peer still has the close-handshake timeout to finish, as a close that is not broken.
      // Closing TCP at once would reset it while it is still sending, and lose the close frame.
      connection.tell(Connection.FrameTooLarge.INSTANCE);
    }
  }

  /**
   * Our close frame is on its way: from now on the peer's frames are read and dropped (only its close
   * counts), whatever the actor still has. Input left unread when the socket ends would make the
   * kernel reset the connection instead of ending it after what we sent.
   */
  void dropInput() {
    paused = false;
    channel.config().setAutoRead(true);
  }

  // ---------------------------------------------------------------- back-pressure

  private void deliver(Incoming incoming) {
    if (unacked.incrementAndGet() >= maxUnacked && !paused) {
      paused = true;
      channel.config().setAutoRead(false);
      if (unacked.get() < maxUnacked) {
        resume(); // every ack came before the pause was seen
      }
    }
    connection.tell(new Connection.Inbound(ack, incoming));
  }

  /** The actor took a message (any thread). */
  private void ack() {
    if (unacked.decrementAndGet() < maxUnacked && paused) {
      channel.eventLoop().execute(this::resume);
    }
  }

  private void resume() {
    if (paused && unacked.get() < maxUnacked && !socket.gone()) {
      paused = false;
      channel.config().setAutoRead(true);
    }
  }
}

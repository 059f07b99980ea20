package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One WebSocket on the netty transport: its outbox and its channel handler. Everything that
 * touches the channel runs on the channel's event loop; senders on other threads hand their frame
 * to that loop, and a room's event reaches every member of a loop in one task ({@link LoopDrainer}).
 *
 * <p><b>Out</b>: a frame is written and flushed at once while the channel is writable. When it is
 * not (the peer reads slowly: Netty's high water mark is passed), frames wait in a backlog, written
 * as soon as the channel is writable again; a backlog past {@code lms.limits.outgoing-buffer} frames
 * is a slow reader, closed with 4008. Nothing polls. The close frame goes ahead of the backlog and
 * nothing follows it; the peer then has the close-handshake timeout to answer before TCP is closed.
 *
 * <p><b>In</b>: Netty's decoder, UTF-8 validator and aggregator turn bytes into messages (1002,
 * 1007 and 1009 come from them); a text message goes to the {@link Connection} actor, and reading
 * stops while the actor has a few messages it has not taken yet. The client's {@code ping} frames
 * (its heartbeat) are answered here, through the socket's {@link Gate}; WebSocket pings get pongs.
 */
final class NettySocket extends Outbox {
  static final String NAME = "socket";
  private static final byte[] KEEP_ALIVE_PING = Frame.control(Frame.OP_PING, new byte[0], 0).wire();
  private static final Frame EMPTY_CLOSE = Frame.control(Frame.OP_CLOSE, new byte[0], 0);

  private final Channel channel;
  private final EventLoop loop;
  private final LoopDrainer drainer;
  private final Handler handler = new Handler();
  private final long keepAliveNanos;
  private final long closeTimeoutNanos;
  private final int maxUnacked;
  private volatile ActorRef<MemberInbox> connection;
  private Gate gate;

  // --- the loop's own state ---
  private boolean upgraded;
  private boolean gone;
  private boolean closeSent;
  private boolean closeReceived;
  /** After broken framing: the socket ends as soon as the close frame is out. */
  private boolean endAfterClose;
  /** The connection actor has stopped. */
  private boolean finished;
  /** Nothing more is read (a close or broken framing came). */
  private boolean inputDone;
  /** Something was written since the last keep-alive check. */
  private boolean wrote;
  private Frame first;
  private Frame pendingClose;
  private ArrayDeque<Frame> backlog;
  private long backlogBytes;
  private ScheduledFuture<?> timer;

  // --- back-pressure on reading: messages handed to the actor and not yet taken ---
  private final AtomicInteger unacked = new AtomicInteger();
  private volatile boolean paused;
  private final Runnable ack = this::ack;

  NettySocket(NettyTransport transport, Channel channel) {
    super(transport.settings, transport.node.metrics());
    this.channel = channel;
    this.loop = channel.eventLoop();
    this.drainer = transport.drainerOf(loop);
    this.keepAliveNanos = settings.keepAliveIdle().toNanos();
    this.closeTimeoutNanos = settings.closeHandshakeTimeout().toNanos();
    this.maxUnacked = settings.inboundInFlight();
  }

  ChannelHandler handler() {
    return handler;
  }

  @Override
  public Drainer drainer() {
    return drainer;
  }

  /** The admitted socket's actor; it hears when the channel is gone, whenever that happens. On the loop. */
  void bind(ActorRef<MemberInbox> connection, Gate gate) {
    this.connection = connection;
    this.gate = gate;
    channel.closeFuture().addListener(f -> {
      gone = true;
      cancelTimer();
      connection.tell(Connection.SocketClosed.INSTANCE);
    });
  }

  /** The 101 is written and the WebSocket handlers are in place. On the loop. */
  void opened() {
    upgraded = true;
    // nothing is read before the actor has seen the socket open (its ack lets reading start)
    unacked.incrementAndGet();
    paused = true;
    connection.tell(new Connection.SocketOpened(ack));
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
      backlog = new ArrayDeque<>();
    }
    if (backlog.size() >= settings.outgoingBuffer() || backlogBytes + frame.size() > settings.outgoingBytes()) {
      backlog = null;
      backlogBytes = 0;
      overflow();
      return;
    }
    backlog.add(frame);
    backlogBytes += frame.size();
  }

  private void drainBacklog() {
    if (backlog == null || !upgraded || closeSent) {
      return;
    }
    boolean any = false;
    while (!backlog.isEmpty() && channel.isWritable()) {
      Frame next = backlog.poll();
      backlogBytes -= next.size();
      channel.write(Unpooled.wrappedBuffer(next.wire()), channel.voidPromise());
      any = true;
    }
    if (backlog.isEmpty()) {
      backlog = null;
      backlogBytes = 0;
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
      backlogBytes = 0;
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
    ChannelFuture written = channel.writeAndFlush(Unpooled.wrappedBuffer(pendingClose.wire()));
    if (endAfterClose || closeReceived || finished) {
      written.addListener(ChannelFutureListener.CLOSE);
    } else {
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

  // ------------------------------------------------------------------ in

  private void deliver(Connection.Incoming incoming) {
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
      loop.execute(this::resume);
    }
  }

  private void resume() {
    if (paused && unacked.get() < maxUnacked && !gone) {
      paused = false;
      channel.config().setAutoRead(true);
    }
  }

  /** The client's close: answered with its own code (or an empty close), then the socket ends. */
  private void onClientClose(CloseWebSocketFrame close) {
    closeReceived = true;
    inputDone = true;
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

  /** Netty's codec found broken framing (1002), bad UTF-8 (1007) or a message over the bound (1009). */
  private void onBrokenInput(Throwable cause) {
    if (inputDone || connection == null) {
      return;
    }
    inputDone = true;
    if (cause instanceof CorruptedWebSocketFrameException corrupt && corrupt.closeStatus().code() != CloseCodes.TOO_LARGE) {
      endAfterClose = true; // broken framing: the decoder reads nothing more, not even a close
      connection.tell(new MemberInbox.Close(corrupt.closeStatus().code(), corrupt.getMessage()));
    } else {
      // Over the bound (at a frame's header, or fragments past it): the rest is skipped as it comes,
      // and the peer still has the close-handshake timeout to finish, as a close that is not broken.
      // Closing TCP at once would reset it while it is still sending, and lose the close frame.
      connection.tell(Connection.FrameTooLarge.INSTANCE);
    }
  }

  private final class Handler extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof TextWebSocketFrame frame) {
          if (!inputDone && !isClosing()) {
            String text = frame.text();
            // a ping is answered here only while no frame is with the actor (its answers go first)
            if (unacked.get() > 0 || !gate.answerPing(text, NettySocket.this, connection, metrics)) {
              deliver(new Connection.Text(text));
            }
          }
        } else if (msg instanceof BinaryWebSocketFrame) {
          if (!inputDone) {
            deliver(Connection.Binary.INSTANCE);
          }
        } else if (msg instanceof PingWebSocketFrame ping) {
          if (!closeSent && !inputDone) {
            wrote = true;
            ctx.writeAndFlush(new PongWebSocketFrame(ping.content().retain()), ctx.voidPromise());
          }
        } else if (msg instanceof CloseWebSocketFrame close) {
          onClientClose(close);
        }
        // pongs answer our keep-alive; nothing else can come from the decoder
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (channel.isWritable()) {
        drainBacklog();
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
  }
}

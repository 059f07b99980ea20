package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;

/**
 * The outgoing side of one connection on the netty transport, whatever its bytes are (a WebSocket's
 * frames, {@link NettySocket}; an event stream's events, {@link NettyStream}). Everything that
 * touches the channel runs on the channel's event loop; senders on other threads hand their frame to
 * that loop, and a room's event reaches every member of a loop in one task ({@link LoopDrainer}).
 *
 * <p>A frame is written and flushed at once while the channel is writable. When it is not (the peer
 * reads slowly: Netty's high water mark is passed), frames wait in a {@link Backlog}, written as soon
 * as the channel is writable again; a backlog past its bounds is a slow reader, closed with 4008.
 * Nothing polls. The close goes ahead of the backlog; what follows it is each kind's own.
 */
abstract class LoopOutbox extends Outbox {
  protected final Channel channel;
  protected final EventLoop loop;
  private final Drainer drainer;

  // --- the loop's own state ---
  /** The connection's first bytes (101, or the stream's head) are out: frames may follow. */
  protected boolean attached;
  /** The channel is closed. */
  protected boolean gone;
  protected boolean closeSent;
  /** The connection's actor has stopped. */
  protected boolean finished;
  /** Something was written since the last keep-alive check. */
  protected boolean wrote;
  private Frame first;
  protected Frame pendingClose;
  /** Null while nothing waits. */
  private Backlog backlog;

  LoopOutbox(Settings settings, Metrics metrics, Channel channel, Drainer drainer) {
    super(settings, metrics);
    this.channel = channel;
    this.loop = channel.eventLoop();
    this.drainer = drainer;
  }

  /** A frame's bytes on this kind of connection (shared, never to be changed). */
  protected abstract byte[] bytes(Frame frame);

  /** Writes {@link #pendingClose} ahead of anything waiting, and ends as the kind ends. On the loop. */
  protected abstract void writeClose();

  @Override
  public Drainer drainer() {
    return drainer;
  }

  @Override
  public void welcome(Frame frame) {
    onLoop(() -> first = frame);
  }

  /** The connection is attached: the welcome and what waited go, or the close if it came first. On the loop. */
  protected void attach() {
    attached = true;
    if (pendingClose != null) {
      writeClose();
      return;
    }
    if (first != null) {
      channel.write(Unpooled.wrappedBuffer(bytes(first)), channel.voidPromise());
      first = null;
    }
    drainBacklog();
    channel.flush();
  }

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
    byte[] bytes = bytes(frame);
    if (mustQueue() || bytes.length > settings.limits().outgoingBytes()) {
      queue(bytes);
      return;
    }
    wrote = true;
    channel.writeAndFlush(Unpooled.wrappedBuffer(bytes), channel.voidPromise());
  }

  /** A frame of a fan-out batch, its {@link #bytes} already in a shared buffer; on the loop. */
  void writeShared(ByteBuf shared, Frame frame) {
    if (!open()) {
      return;
    }
    if (mustQueue() || shared.readableBytes() > settings.limits().outgoingBytes()) {
      queue(bytes(frame));
      return;
    }
    wrote = true;
    channel.writeAndFlush(shared.retainedDuplicate(), channel.voidPromise());
  }

  private boolean open() {
    return !isClosing() && !closeSent && !finished && !gone;
  }

  private boolean mustQueue() {
    return !attached || backlog != null || !channel.isWritable();
  }

  /** Into the backlog, within its bounds in frames and in bytes; past them the connection is a slow reader. */
  private void queue(byte[] bytes) {
    if (backlog == null) {
      backlog = new Backlog(settings.limits().outgoingBuffer(), settings.limits().outgoingBytes());
    }
    if (!backlog.add(bytes)) {
      backlog = null;
      overflow();
    }
  }

  /** Whether frames wait for the channel to take more. */
  protected boolean backedUp() {
    return backlog != null || !channel.isWritable();
  }

  /** The channel is writable again (or the connection is attached): what waited goes. */
  void drainBacklog() {
    if (backlog == null || !attached || closeSent) {
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

  /** Drops what waits: after the close nothing more goes out. */
  protected void dropBacklog() {
    backlog = null;
  }

  @Override
  protected void closeNow(Frame closeFrame) {
    onLoop(() -> {
      pendingClose = closeFrame;
      backlog = null;
      if (attached) {
        writeClose();
      }
    });
  }

  @Override
  public void abort() {
    channel.close();
  }

  protected void onLoop(Runnable task) {
    if (loop.inEventLoop()) {
      task.run();
    } else {
      loop.execute(task);
    }
  }
}

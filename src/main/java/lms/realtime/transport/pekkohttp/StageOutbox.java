package lms.realtime.transport.pekkohttp;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.util.ByteString;

/**
 * The pekko-http transport's outbox: a lock-free queue of wire bytes, bounded in frames and bytes, that the socket's
 * {@link SocketStage} drains (or an event stream's {@link EventStreamStage}: {@link StreamOutbox}).
 * A sender wakes the stage only when the stage has said it is waiting
 * ({@link #sleep}): while the stage is busy writing (or the peer's TCP window is shut) frames just
 * pile up, and the stage's next write takes them all at once.
 */
class StageOutbox extends Outbox {
  private final ConcurrentLinkedQueue<ByteString> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger size = new AtomicInteger();
  private final AtomicLong queuedBytes = new AtomicLong();
  /** True while the stage will look at the queue without being told (busy, or not started yet). */
  private final AtomicBoolean awake = new AtomicBoolean(true);
  private volatile Runnable wake;
  private volatile ByteString first;
  private volatile ByteString closeFrame;
  private volatile boolean aborted;
  private volatile boolean finished;

  StageOutbox(Settings settings, Metrics metrics) {
    super(settings, metrics);
  }

  @Override
  public void send(Frame frame) {
    if (isClosing() || finished) {
      return;
    }
    byte[] wire = bytes(frame);
    int n = wire.length;
    if (size.incrementAndGet() > settings.limits().outgoingBuffer() | queuedBytes.addAndGet(n) > settings.limits().outgoingBytes()) {
      size.decrementAndGet();
      queuedBytes.addAndGet(-n);
      overflow();
      return;
    }
    queue.offer(ByteString.fromArrayUnsafe(wire));
    metrics.framesOut(1);
    if (!awake.get() && awake.compareAndSet(false, true)) {
      wake.run();
    }
  }

  /** A frame's bytes on this kind of connection (shared, never to be changed). */
  protected byte[] bytes(Frame frame) {
    return frame.wire();
  }

  @Override
  public void welcome(Frame frame) {
    first = ByteString.fromArrayUnsafe(bytes(frame));
    poke();
  }

  @Override
  public Drainer drainer() {
    return Drainer.INLINE;
  }

  @Override
  protected void closeNow(Frame frame) {
    closeFrame = ByteString.fromArrayUnsafe(bytes(frame));
    poke();
  }

  @Override
  public void abort() {
    aborted = true;
    poke();
  }

  @Override
  public void complete() {
    finished = true;
    queue.clear();
    poke();
  }

  /** Wakes the stage whatever it is doing: for the rare events (close, abort, end). */
  protected void poke() {
    Runnable w = wake;
    if (w != null) {
      w.run();
    }
  }

  // --- the stage's side (one thread at a time: the socket's stream) ---

  /** Called once, when the socket's stage starts; frames sent before wait in the queue. */
  void attach(Runnable wakeUp) {
    this.wake = wakeUp;
  }

  ByteString closeFrame() {
    return closeFrame;
  }

  boolean aborted() {
    return aborted;
  }

  boolean finished() {
    return finished;
  }

  /** The queued frames (welcome first) as one chunk of at most about {@code maxBytes}, or null when none are. */
  ByteString drain(int maxBytes) {
    ByteString head = first;
    first = null;
    ByteString next0 = queue.poll();
    if (next0 == null) {
      return head;
    }
    int taken = 1;
    long takenBytes = next0.size();
    ByteString chunk = head == null ? next0 : head.concat(next0);
    while (chunk.size() < maxBytes) {
      ByteString next = queue.poll();
      if (next == null) {
        break;
      }
      chunk = chunk.concat(next);
      taken++;
      takenBytes += next.size();
    }
    size.addAndGet(-taken);
    queuedBytes.addAndGet(-takenBytes);
    return chunk;
  }

  /**
   * The stage found nothing to send and waits to be woken. Returns true when frames came in the
   * meantime and the stage has claimed them (it must drain again instead of waiting).
   */
  boolean sleep() {
    awake.set(false);
    return (!queue.isEmpty() || first != null) && awake.compareAndSet(false, true);
  }

  /** Forgets what is still queued: after the close frame nothing more goes out. */
  void discard() {
    int n = 0;
    long b = 0;
    ByteString dropped;
    while ((dropped = queue.poll()) != null) {
      n++;
      b += dropped.size();
    }
    size.addAndGet(-n);
    queuedBytes.addAndGet(-b);
  }
}

package lms.realtime.connection;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.Settings;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import org.apache.pekko.util.ByteString;

/**
 * The outgoing side of one socket: a bounded queue of rendered frames (wire bytes, see
 * {@link WebSocketStack#textFrame}), a close frame that goes ahead of them, and an abort for a peer
 * that will not even take the close. Thread-safe: the socket's own actor and the node's fan-out hubs
 * offer to it directly, so a broadcast costs one enqueue per socket. When the queue is full the
 * socket is a slow reader: it alone is closed with 4008, and whoever was sending moves on at once.
 *
 * <p>The socket's {@link SocketStage} drains it. A sender wakes the stage only when the stage has
 * said it is waiting ({@link #sleep}): while the stage is busy writing (or the peer's TCP window is
 * shut) frames just pile up, and the stage's next write takes them all at once.
 */
public final class Outbox {
  private final ConcurrentLinkedQueue<ByteString> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger size = new AtomicInteger();
  /** True while the stage will look at the queue without being told (busy, or not started yet). */
  private final AtomicBoolean awake = new AtomicBoolean(true);
  private final AtomicBoolean closing = new AtomicBoolean();
  private final Settings settings;
  private final Metrics metrics;
  private volatile Runnable wake;
  private volatile ByteString closeFrame;
  private volatile boolean aborted;
  private volatile boolean finished;
  private volatile Runnable onOverflow = () -> {};
  private volatile int closeCode;

  Outbox(Settings settings, Metrics metrics) {
    this.settings = settings;
    this.metrics = metrics;
  }

  void onOverflow(Runnable callback) {
    this.onOverflow = callback;
  }

  /** Queues a frame from {@link WebSocketStack#textFrame}; false when closing or full. */
  public boolean send(ByteString frame) {
    if (closing.get() || finished) {
      return false;
    }
    if (size.incrementAndGet() > settings.outgoingBuffer()) {
      size.decrementAndGet();
      return overflow();
    }
    queue.offer(frame);
    metrics.frameOut();
    if (!awake.get() && awake.compareAndSet(false, true)) {
      wake.run();
    }
    return true;
  }

  public boolean sendText(String text) {
    return send(WebSocketStack.textFrame(text));
  }

  private boolean overflow() {
    metrics.queueDrop();
    if (close(CloseCodes.SLOW_CONSUMER, "slow consumer")) {
      onOverflow.run();
    }
    return false;
  }

  public boolean isClosing() {
    return closing.get();
  }

  /** The code this socket was closed with by the engine, 0 when it was not. */
  public int closeCode() {
    return closeCode;
  }

  /**
   * Sends the close frame ahead of anything still queued. Codes after which the client should come
   * back carry {@code {"retryAfterMs": N}} with N jittered per socket. Returns false when a close
   * was already under way.
   */
  public boolean close(int code, String reason) {
    if (!closing.compareAndSet(false, true)) {
      return false;
    }
    closeCode = code;
    String text = CloseCodes.advisesRetry(code) ? retryAdvice() : reason;
    closeFrame = WebSocketStack.closeFrame(code, text);
    metrics.closed(code);
    poke();
    return true;
  }

  private String retryAdvice() {
    int min = settings.retryAfterMinMs();
    int max = Math.max(min, settings.retryAfterMaxMs());
    return "{\"retryAfterMs\":" + ThreadLocalRandom.current().nextInt(min, max + 1) + "}";
  }

  /** Drops the TCP connection without a close handshake: for a peer that takes nothing. */
  void abort() {
    aborted = true;
    poke();
  }

  /** The socket's actor is gone: send what must still go (the close frame) and end the socket. */
  void complete() {
    finished = true;
    queue.clear();
    poke();
  }

  /** Wakes the stage whatever it is doing: for the rare events (close, abort, end). */
  private void poke() {
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

  /** The queued frames as one chunk of at most about {@code maxBytes}, or null when none are. */
  ByteString drain(int maxBytes) {
    ByteString first = queue.poll();
    if (first == null) {
      return null;
    }
    int taken = 1;
    ByteString chunk = first;
    while (chunk.size() < maxBytes) {
      ByteString next = queue.poll();
      if (next == null) {
        break;
      }
      chunk = chunk.concat(next);
      taken++;
    }
    size.addAndGet(-taken);
    return chunk;
  }

  /**
   * The stage found nothing to send and waits to be woken. Returns true when frames came in the
   * meantime and the stage has claimed them (it must drain again instead of waiting).
   */
  boolean sleep() {
    awake.set(false);
    return !queue.isEmpty() && awake.compareAndSet(false, true);
  }

  /** Forgets what is still queued: after the close frame nothing more goes out. */
  void discard() {
    int n = 0;
    while (queue.poll() != null) {
      n++;
    }
    size.addAndGet(-n);
  }
}

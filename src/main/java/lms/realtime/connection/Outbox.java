package lms.realtime.connection;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import lms.realtime.Settings;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.SharedKillSwitch;

/**
 * The outgoing side of one socket: a bounded queue of rendered frames, a preferred channel for the
 * close frame, and a kill switch for a peer that will not even take the close. Thread-safe: the
 * socket's own actor and the node's fan-out hubs offer to it directly, so a broadcast costs one
 * enqueue per socket. When the queue is full the socket is a slow reader: it alone is closed with
 * 4008, and whoever was sending moves on at once.
 *
 * <p>The queue comes into being when pekko-http runs the socket's stream, after the upgrade; what
 * is sent before (the {@code welcome}, an early notification) waits here and goes first. Creating
 * the queue with the socket's own stream, rather than as a stream of its own beforehand, halves
 * what a handshake materializes.
 */
public final class Outbox {
  private final CompletableFuture<Object> closeCommand = new CompletableFuture<>();
  private final SharedKillSwitch killSwitch;
  private final Settings settings;
  private final Metrics metrics;
  private final AtomicBoolean closing = new AtomicBoolean();
  private volatile BoundedSourceQueue<Object> frames;
  private List<Object> early = new ArrayList<>(4);
  private volatile Runnable onOverflow = () -> {};
  private volatile int closeCode;

  Outbox(SharedKillSwitch killSwitch, Settings settings, Metrics metrics) {
    this.killSwitch = killSwitch;
    this.settings = settings;
    this.metrics = metrics;
  }

  void onOverflow(Runnable callback) {
    this.onOverflow = callback;
  }

  /** Called once, when the socket's stream materializes its frame queue. */
  void attach(BoundedSourceQueue<Object> queue) {
    synchronized (this) {
      for (Object frame : early) {
        queue.offer(frame);
      }
      early = null;
      frames = queue;
    }
  }

  /** Completes when the socket is to be closed, with the command for pekko-http's close frame. */
  CompletableFuture<Object> closeCommand() {
    return closeCommand;
  }

  /** Queues a frame from {@link WebSocketStack#textFrame}; false when closing or full. */
  public boolean send(Object frame) {
    if (closing.get()) {
      return false;
    }
    BoundedSourceQueue<Object> queue = frames;
    if (queue == null) {
      synchronized (this) {
        queue = frames;
        if (queue == null) {
          if (early == null) {
            return false; // the socket is gone
          }
          if (early.size() >= settings.outgoingBuffer()) {
            return overflow();
          }
          early.add(frame);
          metrics.frameOut();
          return true;
        }
      }
    }
    QueueOfferResult result = queue.offer(frame);
    if (result == QueueOfferResult.enqueued()) {
      metrics.frameOut();
      return true;
    }
    if (result == QueueOfferResult.dropped()) {
      return overflow();
    }
    return false;
  }

  private boolean overflow() {
    metrics.queueDrop();
    if (close(CloseCodes.SLOW_CONSUMER, "slow consumer")) {
      onOverflow.run();
    }
    return false;
  }

  public boolean sendText(String text) {
    return send(WebSocketStack.textFrame(text));
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
    closeCommand.complete(WebSocketStack.closeCommand(code, text));
    metrics.closed(code);
    return true;
  }

  private String retryAdvice() {
    int min = settings.retryAfterMinMs();
    int max = Math.max(min, settings.retryAfterMaxMs());
    return "{\"retryAfterMs\":" + ThreadLocalRandom.current().nextInt(min, max + 1) + "}";
  }

  /** Drops the TCP connection without a close handshake: for a peer that takes nothing. */
  void abort() {
    killSwitch.abort(new IllegalStateException("socket aborted"));
  }

  /** Ends the outgoing side after the stream is gone (frees the queue). */
  void complete() {
    BoundedSourceQueue<Object> queue;
    synchronized (this) {
      queue = frames;
      early = null;
    }
    if (queue != null) {
      try {
        queue.complete();
      } catch (IllegalStateException alreadyDone) {
        // the stream ended first (the peer closed): nothing left to free
      }
    }
  }
}

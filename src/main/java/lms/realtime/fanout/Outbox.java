package lms.realtime.fanout;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import lms.realtime.config.Settings;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;

/**
 * The outgoing side of one socket, as fan-out and the socket's session see it, whatever transport
 * carries it: frames ({@link Frame}, wire bytes rendered once) queued up to a bound, a close frame
 * that goes ahead of them, and an abort for a peer that will not even take the close. Thread-safe:
 * the socket's own actor and the node's hubs offer to it directly. When the bound is passed the
 * socket is a slow reader: it alone is closed with 4008, and whoever was sending moves on at once.
 *
 * <p>This class holds what both transports share (the close rules, the retry advice, the slow-reader
 * verdict); each transport queues and writes in its own way.
 */
public abstract class Outbox {
  protected final Settings settings;
  protected final Metrics metrics;
  private final AtomicBoolean closing = new AtomicBoolean();
  private volatile int closeCode;
  private volatile Runnable onOverflow = () -> {};
  private volatile Runnable onStopped = () -> {};
  private volatile boolean stopped;

  protected Outbox(Settings settings, Metrics metrics) {
    this.settings = settings;
    this.metrics = metrics;
  }

  /** Queues a frame; dropped when the socket is closing. Any thread. */
  public abstract void send(Frame frame);

  public void sendText(String text) {
    send(Frame.text(text));
  }

  /**
   * The socket's first frame ({@code welcome}): it goes out ahead of every other frame, whenever
   * those were sent. Given once, before the transport attaches the socket.
   */
  public abstract void welcome(Frame frame);

  /** Who writes this socket's frames; fan-out groups members by it. */
  public abstract Drainer drainer();

  /** Drops the TCP connection without a close handshake: for a peer that takes nothing. */
  public abstract void abort();

  /** The socket's actor is gone: what must still go (the close frame) goes, then the socket ends. */
  public abstract void complete();

  /**
   * The connection's actor has stopped: what must still go goes ({@link #complete}), then whoever
   * asked ({@link #onStopped}) hears of it.
   */
  public final void stopped() {
    complete();
    stopped = true;
    onStopped.run();
  }

  /**
   * Called once, by the transport: what to do when the connection's actor has stopped (forget it);
   * at once if it has stopped already. The callback may run twice when both happen at once, so it
   * must not mind.
   */
  public void onStopped(Runnable callback) {
    this.onStopped = callback;
    if (stopped) {
      callback.run();
    }
  }

  /** Writes the close frame ahead of anything still queued, and drops what is queued. */
  protected abstract void closeNow(Frame closeFrame);

  /** What carries the connection, as metrics label it: {@code websocket}, {@code sse} or {@code poll}. */
  public String kind() {
    return "websocket";
  }

  /**
   * When the peer last showed that it reads ({@code now} while it does): a socket or a stream is
   * read by TCP, so always now; a long-poll connection is read by its polls, and one not renewed
   * is a silent peer (contract §10). Any thread.
   */
  public long lastReadNanos(long now) {
    return now;
  }

  /** Called once, by the socket's session: what to do when the outbox closes the socket itself (4008). */
  public void onOverflow(Runnable callback) {
    this.onOverflow = callback;
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
    metrics.closed(code);
    closeNow(Frame.close(code, text));
    return true;
  }

  /** The queue is past its bound: a slow reader, closed with 4008; its session hears of it. */
  protected final void overflow() {
    metrics.queueDrop();
    if (close(CloseCodes.SLOW_CONSUMER, "slow consumer")) {
      onOverflow.run();
    }
  }

  private String retryAdvice() {
    int min = settings.limits().retryAfterMinMs();
    int max = Math.max(min, settings.limits().retryAfterMaxMs());
    return "{\"retryAfterMs\":" + ThreadLocalRandom.current().nextInt(min, max + 1) + "}";
  }
}

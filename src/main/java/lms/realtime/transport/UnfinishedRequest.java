package lms.realtime.transport;

import lms.realtime.session.PerAddress;

/**
 * A connection's request in progress, as both transports' header guards keep it (issues 12, 22):
 * from its first byte (from the connection opening, for the first request) to its last, it holds one
 * of its address's {@code lms.http.max-unfinished-per-ip} slots and its header timer runs; a request
 * that would pass the cap refuses the connection. Where requests begin and end comes from the
 * connection's bytes ({@link RequestFraming}); the timer and the close are the transport's.
 */
public final class UnfinishedRequest implements RequestFraming.Listener {
  /** What the transport does for it, on the thread that reads the connection. */
  public interface Guard {
    void startTimer();

    void stopTimer();

    /** Over the cap: the connection ends at once. */
    void refuse();
  }

  private final PerAddress unfinished;
  private final String address;
  private final int maxUnfinished;
  private final Guard guard;
  private final RequestFraming framing = new RequestFraming(this);
  private boolean inRequest;
  private boolean holdsSlot;
  private boolean refused;
  private boolean stopped;

  public UnfinishedRequest(PerAddress unfinished, String address, int maxUnfinished, Guard guard) {
    this.unfinished = unfinished;
    this.address = address;
    this.maxUnfinished = maxUnfinished;
    this.guard = guard;
  }

  /** Reads more of the connection's bytes (nothing once refused or stopped). */
  public void read(int length, RequestFraming.Bytes bytes) {
    if (!refused && !stopped) {
      framing.read(length, bytes);
    }
  }

  /** The connection was refused: nothing of it is to be passed on. */
  public boolean refused() {
    return refused;
  }

  @Override
  public void started() {
    if (inRequest || refused || stopped) {
      return;
    }
    if (!unfinished.tryAcquire(address, maxUnfinished)) {
      refused = true;
      guard.refuse();
      return;
    }
    holdsSlot = true;
    inRequest = true;
    guard.startTimer();
  }

  @Override
  public void ended() {
    inRequest = false;
    guard.stopTimer();
    release();
  }

  /** The connection ended, or is a WebSocket now (its bytes are frames): nothing more is timed. */
  public void stop() {
    stopped = true;
    ended();
  }

  private void release() {
    if (holdsSlot) {
      holdsSlot = false;
      unfinished.release(address);
    }
  }
}

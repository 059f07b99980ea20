package lms.realtime.transport.fallback;

import java.util.ArrayDeque;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Handshake;
import lms.realtime.session.SocketTime;

/**
 * A long-poll connection's outgoing side (contract §10, {@code GET /sse?mode=poll}), the same on both
 * transports. Frames wait between polls within a socket's bounds ({@code lms.limits.outgoing-buffer}
 * frames, {@code outgoing-bytes}; past either the peer is a slow reader: 4008). A poll names the
 * position it has read up to ({@code from}): what is before it is forgotten, and the poll is
 * answered with what is after it, at once when there is any, else when a frame comes or after
 * {@code lms.fallback.poll-wait} (an empty array). So a poll whose answer was lost on the way is
 * answered again by the next poll from the same position. One poll waits at a time: a new one
 * answers the one before with an empty array. The close frame is the last frame: behind what waits
 * (the answers to the frames before the one that closed, as a reading socket would have had them),
 * except for a slow reader's 4008, which goes ahead of it (what waited is dropped); once a poll has
 * taken it, the connection's actor hears that its peer is gone. Thread-safe (one lock): hubs and the actor send, transports poll.
 *
 * <p>Its polls are timed on the connection's {@link SocketTime} (the node's): a poll's wait, and
 * the last answer, from which the connection counts a client that stopped polling as silent.
 */
public final class PollOutbox extends Outbox {
  private static final byte[] EMPTY = {'[', ']'};

  /** Where a poll's answer goes: the frames (a JSON array) and the position after them. Any thread. */
  public interface Waiter {
    void answer(byte[] frames, long next);
  }

  /** An answer decided under the lock, given outside it. */
  private record Answer(Waiter waiter, byte[] frames, long next, boolean closeTaken) {}

  private final SocketTime time;
  private final ArrayDeque<Frame> frames = new ArrayDeque<>();
  /** The position of the first frame held. */
  private long base;
  private long bytes;
  private Waiter waiter;
  private long waiterFrom;
  private long waitingSince;
  private long lastPollNanos;
  private boolean closeQueued;
  private boolean finished;
  private volatile Runnable onCloseTaken = () -> {};

  public PollOutbox(Settings settings, Metrics metrics, SocketTime time) {
    super(settings, metrics);
    this.time = time;
    this.lastPollNanos = time.nanoTime();
  }

  /** Called once: what to do when a poll has taken the close frame (the connection's peer has it). */
  void onCloseTaken(Runnable callback) {
    this.onCloseTaken = callback;
  }

  @Override
  public String kind() {
    return Handshake.Kind.POLL.label();
  }

  @Override
  public Drainer drainer() {
    return Drainer.INLINE;
  }

  @Override
  public void send(Frame frame) {
    if (isClosing()) {
      return;
    }
    int n = frame.jsonLength();
    boolean over;
    Answer ready = null;
    synchronized (this) {
      if (finished || closeQueued) {
        return;
      }
      over = frames.size() >= settings.limits().outgoingBuffer() || bytes + n > settings.limits().outgoingBytes();
      if (!over) {
        frames.add(frame);
        bytes += n;
        ready = readyLocked();
      }
    }
    if (over) {
      overflow();
      return;
    }
    metrics.framesOut(1);
    give(ready);
  }

  @Override
  public synchronized void welcome(Frame frame) {
    frames.addFirst(frame); // before any poll: no position was handed out yet
    bytes += frame.jsonLength();
  }

  @Override
  protected void closeNow(Frame closeFrame) {
    Answer ready;
    synchronized (this) {
      if (closeCode() == CloseCodes.SLOW_CONSUMER) {
        // what waited is what the client could not take: dropped, as a socket's backlog is
        base += frames.size();
        frames.clear();
        bytes = 0;
      }
      frames.add(closeFrame);
      closeQueued = true;
      ready = readyLocked();
    }
    give(ready);
  }

  /**
   * A poll that has read everything before {@code from}: answered at once with the frames after it
   * when there are any (or when it may not wait), else when they come. Any thread.
   */
  public void poll(long from, boolean mayWait, Waiter poll) {
    Answer replaced;
    Answer ready;
    synchronized (this) {
      long nowNanos = time.nanoTime();
      lastPollNanos = nowNanos;
      while (base < from && !frames.isEmpty()) {
        bytes -= frames.poll().jsonLength();
        base++;
      }
      replaced = waiter == null ? null : new Answer(waiter, EMPTY, waiterFrom, false);
      waiter = poll;
      waiterFrom = Math.max(base, Math.min(from, base + frames.size()));
      waitingSince = nowNanos;
      ready = readyLocked();
      if (ready == null && (!mayWait || finished)) {
        ready = takeLocked();
      }
    }
    give(replaced);
    give(ready);
  }

  /** A poll that has waited {@code maxWaitNanos} is answered (an empty array). The node's ticker calls it. */
  public void expire(long maxWaitNanos) {
    Answer due = null;
    synchronized (this) {
      if (waiter != null && time.nanoTime() - waitingSince >= maxWaitNanos) {
        due = takeLocked();
      }
    }
    give(due);
  }

  /** A poll waiting now is a reader; otherwise the last poll's answer was its last sign of life. */
  @Override
  public synchronized long lastReadNanos(long now) {
    return waiter != null ? now : lastPollNanos;
  }

  /** The close grace is over and nobody polled the close frame: nothing more goes out. */
  @Override
  public void abort() {
    complete();
  }

  /** The actor is gone: a waiting poll gets what is left (the close frame, if it was not taken). */
  @Override
  public void complete() {
    Answer last;
    synchronized (this) {
      finished = true;
      last = waiter == null ? null : takeLocked();
    }
    give(last);
  }

  /** The waiting poll's answer, if it has frames to take. */
  private Answer readyLocked() {
    return waiter != null && waiterFrom < base + frames.size() ? takeLocked() : null;
  }

  /** The waiting poll's answer: every frame from its position on (maybe none). */
  private Answer takeLocked() {
    long end = base + frames.size();
    int skip = (int) (waiterFrom - base);
    int length = 1;
    int i = 0;
    for (Frame f : frames) {
      if (i++ >= skip) {
        length += f.jsonLength() + 1;
      }
    }
    byte[] out = EMPTY;
    if (end > waiterFrom) {
      out = new byte[length];
      int at = 0;
      i = 0;
      for (Frame f : frames) {
        if (i++ >= skip) {
          out[at] = (byte) (at == 0 ? '[' : ',');
          at++;
          System.arraycopy(f.sse(), Frame.jsonOffset(), out, at, f.jsonLength());
          at += f.jsonLength();
        }
      }
      out[at] = ']';
    }
    Answer answer = new Answer(waiter, out, end, closeQueued && end > waiterFrom);
    waiter = null;
    // the next poll is due from now: a poll that waited lms.fallback.poll-wait is not held against
    // the client's two heartbeat intervals (which may be shorter than the wait)
    lastPollNanos = time.nanoTime();
    return answer;
  }

  private void give(Answer answer) {
    if (answer != null) {
      answer.waiter().answer(answer.frames(), answer.next());
      if (answer.closeTaken()) {
        onCloseTaken.run();
      }
    }
  }
}

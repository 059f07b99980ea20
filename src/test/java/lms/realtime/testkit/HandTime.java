package lms.realtime.testkit;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import lms.realtime.session.SocketTime;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A socket's time ({@link SocketTime}) that moves only when the test says: {@link #advance} moves
 * both clocks and, on the test's thread, tells each timer that falls due its message, in order (so
 * a message the test tells afterwards comes after it). A node's context on it
 * ({@code NodeContext.withTime}) decides a connection's deadlines, its admission's retries and
 * timeout, its rate bucket, a long poll's wait and its token checks (a refresh, a join's room
 * token) without anyone sleeping.
 */
public final class HandTime implements SocketTime {
  private record Timer(long dueNanos, Runnable fire, AtomicBoolean cancelled) implements Cancellable {
    @Override
    public boolean cancel() {
      return cancelled.compareAndSet(false, true);
    }

    @Override
    public boolean isCancelled() {
      return cancelled.get();
    }
  }

  private final List<Timer> timers = new ArrayList<>();
  private long nanos = 1_000_000_000L;
  /** On a whole second, so that a token's {@code exp} (seconds) falls on a known millisecond. */
  private final TestClock wall = new TestClock(System.currentTimeMillis() / 1000 * 1000);

  @Override
  public synchronized long nanoTime() {
    return nanos;
  }

  @Override
  public Clock wallClock() {
    return wall;
  }

  @Override
  public synchronized <T> Cancellable scheduleOnce(Duration delay, ActorRef<T> target, T message) {
    Timer timer = new Timer(nanos + delay.toNanos(), () -> target.tell(message), new AtomicBoolean());
    timers.add(timer);
    return timer;
  }

  public void advance(Duration by) {
    List<Timer> due = new ArrayList<>();
    synchronized (this) {
      nanos += by.toNanos();
      wall.advance(by);
      for (Timer t : List.copyOf(timers)) {
        if (t.dueNanos() <= nanos) {
          timers.remove(t);
          if (!t.isCancelled()) {
            due.add(t);
          }
        }
      }
    }
    due.sort((a, b) -> Long.compare(a.dueNanos(), b.dueNanos()));
    due.forEach(t -> t.fire().run());
  }

  /** How long from now until the last timer set (and not cancelled) is due; null: none. */
  public synchronized Duration armed() {
    return timers.stream().filter(t -> !t.isCancelled()).map(t -> Duration.ofNanos(t.dueNanos() - nanos))
        .reduce((a, b) -> b).orElse(null);
  }
}

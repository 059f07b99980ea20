package lms.realtime.session;

import java.time.Clock;
import java.time.Duration;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * Where a node's sockets read the time and set their timers: the heartbeat and token deadlines of a
 * {@link Connection}, its admission's retries, its {@link Gate}'s rate bucket, a long-poll
 * connection's polls (how long one has waited, when the last was answered); and, through its wall
 * clock, the node's token checks ({@link NodeContext#verifier}, the backend API's service tokens). In
 * production the system's clocks and the actor system's scheduler ({@link #system}); an actor-level
 * test gives a time it moves by hand, so that those deadlines are decided without sleeping.
 */
public interface SocketTime {
  /** As {@link System#nanoTime}: for intervals. */
  long nanoTime();

  /** The wall clock: a token's {@code exp} and {@code nbf}. */
  Clock wallClock();

  /** Tells {@code target} {@code message} after {@code delay} (as {@code ActorContext.scheduleOnce}). */
  <T> Cancellable scheduleOnce(Duration delay, ActorRef<T> target, T message);

  static SocketTime system(ActorSystem<?> system) {
    return new SocketTime() {
      @Override
      public long nanoTime() {
        return System.nanoTime();
      }

      @Override
      public Clock wallClock() {
        return Clock.systemUTC();
      }

      @Override
      public <T> Cancellable scheduleOnce(Duration delay, ActorRef<T> target, T message) {
        return system.scheduler().scheduleOnce(delay, () -> target.tell(message), system.executionContext());
      }
    };
  }
}

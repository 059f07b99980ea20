package lms.realtime.testkit;

import java.time.Duration;
import java.util.function.Predicate;

/**
 * Waiting for a condition instead of for a fixed time: a value is read again, a short pause apart,
 * until it satisfies the condition or the time is up. What a test then asserts is the value that
 * satisfied it.
 */
public final class Eventually {
  private Eventually() {}

  /** What a test reads again (a request, a frame) until it says what it waits for. */
  public interface Source<T> {
    T read() throws Exception;
  }

  /** The first value of {@code source} that satisfies {@code condition} within {@code within}. */
  public static <T> T within(Duration within, Source<T> source, Predicate<T> condition) throws Exception {
    return within(within, Duration.ofMillis(25), source, condition);
  }

  /**
   * The same, reading every {@code every} at most: a source that costs the node something (a socket,
   * a join and a leave under the socket's rate limit) is read less often.
   */
  public static <T> T within(Duration within, Duration every, Source<T> source, Predicate<T> condition) throws Exception {
    return within("condition", within, every, source, condition);
  }

  /** The same, naming {@code what} is awaited in the failure. */
  public static <T> T within(String what, Duration within, Duration every, Source<T> source, Predicate<T> condition)
      throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    T last = null;
    while (System.nanoTime() < deadline) {
      last = source.read();
      if (condition.test(last)) {
        return last;
      }
      Thread.sleep(every.toMillis());
    }
    throw new AssertionError(what + " not met within " + within.toMillis() + " ms; last: " + last);
  }
}

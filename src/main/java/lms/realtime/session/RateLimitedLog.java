package lms.realtime.session;

import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * A warning that may come thousands of times a second (a misconfigured page retrying): logged at
 * most once per interval, with how many went unlogged since the last line. Thread-safe, lock-free.
 */
final class RateLimitedLog {
  private final Logger log;
  private final long intervalNanos;
  private final String format;
  private final AtomicLong nextAt = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong suppressed = new AtomicLong();

  /** {@code format}: an SLF4J pattern with two placeholders, the subject and the count suppressed. */
  RateLimitedLog(Logger log, long intervalMillis, String format) {
    this.log = log;
    this.intervalNanos = intervalMillis * 1_000_000;
    this.format = format;
  }

  void note(Object subject) {
    long now = System.nanoTime();
    long next = nextAt.get();
    if ((next == Long.MIN_VALUE || now - next >= 0) && nextAt.compareAndSet(next, now + intervalNanos)) {
      log.warn(format, subject, suppressed.getAndSet(0));
    } else {
      suppressed.incrementAndGet();
    }
  }
}

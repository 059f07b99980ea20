package lms.realtime.testkit;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A wall clock a test moves by hand: an actor that decides by time (a room's re-join grace, its
 * history's TTL, a removal's retention) is given one, and the test says when time passes instead
 * of sleeping. It starts at the real time, so what the actor stamps on frames looks as usual.
 */
public final class TestClock extends Clock {
  private final AtomicLong millis;

  public TestClock() {
    this(System.currentTimeMillis());
  }

  /** Starting at {@code epochMillis}. */
  public TestClock(long epochMillis) {
    millis = new AtomicLong(epochMillis);
  }

  public void advance(Duration by) {
    millis.addAndGet(by.toMillis());
  }

  /** To {@code epochMillis}, forward or back (an edge such as {@code exp} + skew, reached exactly). */
  public void setTo(long epochMillis) {
    millis.set(epochMillis);
  }

  @Override
  public long millis() {
    return millis.get();
  }

  @Override
  public Instant instant() {
    return Instant.ofEpochMilli(millis.get());
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    throw new UnsupportedOperationException("a test clock has one zone");
  }
}

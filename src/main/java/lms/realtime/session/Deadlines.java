package lms.realtime.session;

import java.time.Duration;
import lms.realtime.protocol.CloseCodes;

/**
 * An open connection's two deadlines, as pure arithmetic (its {@link Connection} keeps one timer on
 * the nearer): the heartbeat, two intervals after the client last showed it is there, and the
 * token's expiry ({@code exp} plus the clock skew). The client shows it is there by sending a frame
 * (contract §5), and, on a long-poll connection, also by polling (contract §10): a peer that posts
 * but no longer reads is as gone as one that stopped sending.
 */
final class Deadlines {
  /** The scheduler takes delays up to about 248 days; a longer-lived token is checked again daily. */
  private static final long MAX_TIMER_NANOS = Duration.ofDays(1).toNanos();

  private final long heartbeatNanos;
  private final long skewMillis;

  Deadlines(int heartbeatSeconds, long clockSkewSeconds) {
    this.heartbeatNanos = Duration.ofSeconds(heartbeatSeconds).toNanos();
    this.skewMillis = clockSkewSeconds * 1000;
  }

  /**
   * The close code due now: {@link CloseCodes#TOKEN_EXPIRED}, {@link CloseCodes#HEARTBEAT_MISSED},
   * or 0 when neither. {@code lastHeardNanos}: the later of nothing, the earlier of the client's last
   * frame and its reader's last sign of life.
   */
  int due(long nowNanos, long nowMillis, long lastHeardNanos, long expiresAtSeconds) {
    if (nowMillis >= expiryMillis(expiresAtSeconds)) {
      return CloseCodes.TOKEN_EXPIRED;
    }
    if (nowNanos - lastHeardNanos >= 2 * heartbeatNanos) {
      return CloseCodes.HEARTBEAT_MISSED;
    }
    return 0;
  }

  /** How long until the nearer deadline (a day at most: the scheduler's bound). */
  Duration next(long nowNanos, long nowMillis, long lastHeardNanos, long expiresAtSeconds) {
    long heartbeat = lastHeardNanos + 2 * heartbeatNanos - nowNanos;
    // capped before the conversion: in nanoseconds an exp centuries away overflowed, re-arming the timer at once
    long token = Math.min(expiryMillis(expiresAtSeconds) - nowMillis, MAX_TIMER_NANOS / 1_000_000) * 1_000_000L;
    return Duration.ofNanos(Math.max(0, Math.min(MAX_TIMER_NANOS, Math.min(heartbeat, token))));
  }

  private long expiryMillis(long expiresAtSeconds) {
    return expiresAtSeconds * 1000 + skewMillis;
  }
}

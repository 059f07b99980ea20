package lms.realtime.room;

import java.util.HashMap;
import java.util.Map;

/**
 * Who the backend removed from a room, and when (epoch seconds). While a removal is remembered
 * ({@code lms.removal-retention-seconds}), a token issued in or before the second of the removal,
 * or one without {@code iat}, is refused there: join, publish and presence (contract §9).
 */
final class Removals {
  private final Map<String, Long> removedAt = new HashMap<>();
  private final long retentionSeconds;

  Removals(long retentionSeconds) {
    this.retentionSeconds = retentionSeconds;
  }

  /** Takes in removals written elsewhere (a snapshot, the durable entry): the later one of each user wins. */
  void merge(Map<String, Long> other) {
    other.forEach((user, at) -> removedAt.merge(user, at, Math::max));
  }

  void remove(String userId, long atSeconds) {
    removedAt.put(userId, atSeconds);
  }

  /** Whether a token of this user issued then is refused (second resolution: the same second counts as older). */
  boolean bars(String userId, Long tokenIssuedAt, long nowSeconds) {
    Long at = removedAt.get(userId);
    if (at == null) {
      return false;
    }
    if (at + retentionSeconds < nowSeconds) {
      removedAt.remove(userId);
      return false;
    }
    return tokenIssuedAt == null || tokenIssuedAt <= at;
  }

  /** Forgets the removals past their retention; returns whether any went. */
  boolean expire(long nowSeconds) {
    return removedAt.values().removeIf(at -> at + retentionSeconds < nowSeconds);
  }

  boolean isEmpty() {
    return removedAt.isEmpty();
  }

  /** Seconds until the oldest removal expires (at least 1). */
  long secondsToNextExpiry(long nowSeconds) {
    long oldest = removedAt.values().stream().mapToLong(Long::longValue).min().orElse(nowSeconds);
    return Math.max(1, oldest + retentionSeconds - nowSeconds);
  }

  Map<String, Long> asMap() {
    return Map.copyOf(removedAt);
  }
}

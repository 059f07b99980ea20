package lms.realtime.session;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A count per client address, capped: the per-IP socket limit, and the unfinished requests the
 * transports allow per peer. A slot is taken and given back inside the map's atomic compute, so an
 * acquire racing a release on one address can never leave a count that has dropped out of the map
 * (issue 12: the old per-IP counter could, and the limit was then bypassed).
 */
public final class PerAddress {
  private final Map<String, Integer> counts = new ConcurrentHashMap<>();

  /** Takes a slot for {@code address}; false (and nothing taken) when {@code max} are held. */
  public boolean tryAcquire(String address, int max) {
    boolean[] taken = {false};
    counts.compute(address, (k, n) -> {
      int held = n == null ? 0 : n;
      if (held >= max) {
        return n;
      }
      taken[0] = true;
      return held + 1;
    });
    return taken[0];
  }

  public void release(String address) {
    counts.computeIfPresent(address, (k, n) -> n <= 1 ? null : n - 1);
  }
}

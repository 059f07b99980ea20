package lms.realtime.transport.fallback;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import lms.realtime.config.Settings;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * This node's fallback connections by id, for their POSTs and polls: each is added when its
 * handshake is admitted and removed when its actor stops. The long-poll connections are also looked
 * at every {@code lms.internals.poll-tick} by one task per node, which answers the polls that have
 * waited {@code lms.fallback.poll-wait} (no timer per poll).
 */
final class FallbackLinks {
  private final Map<String, FallbackLink> byId = new ConcurrentHashMap<>();
  private final Set<PollOutbox> polls = ConcurrentHashMap.newKeySet();

  FallbackLinks(ActorSystem<?> system, Settings settings) {
    Duration pollTick = settings.internals().pollTick();
    long tick = pollTick.toNanos();
    // answered within a tick before the wait is over, never after it
    long wait = Math.max(0, settings.fallback().pollWait().toNanos() - tick);
    system.scheduler().scheduleWithFixedDelay(pollTick, pollTick, () -> {
      for (PollOutbox poll : polls) {
        poll.expire(wait); // on the poll's own time, as its wait began
      }
    }, system.executionContext());
  }

  void add(FallbackLink link) {
    byId.put(link.id, link);
    if (link.outbox instanceof PollOutbox poll) {
      polls.add(poll);
    }
    link.outbox.onStopped(() -> remove(link));
  }

  FallbackLink get(String id) {
    return byId.get(id);
  }

  private void remove(FallbackLink link) {
    byId.remove(link.id, link);
    if (link.outbox instanceof PollOutbox poll) {
      polls.remove(poll);
    }
  }
}

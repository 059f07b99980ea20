package lms.realtime.room;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import lms.realtime.fanout.RoomInbox;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Requests a room holds back in its first moments because they come from sockets it does not know
 * yet. A room that was handed on, or came back after a crash, learns its members from their hubs'
 * re-joins, which travel behind the death watch of its previous incarnation; a socket's publish or
 * presence query sent meanwhile can arrive first. Answering it {@code not_joined} or
 * {@code forbidden} would be wrong (the socket is joined), so it waits, at most until the grace
 * ends, for the re-join that makes it known. Bounded in count; past the bound it is answered at once.
 */
final class HeldForMembers {
  /** The room's timer message at the end of the grace: the held requests are answered then, whatever happened. */
  static final Room.Command RELEASE = Release.INSTANCE;

  enum Release implements Room.Command {
    INSTANCE
  }

  private final long until;
  private final int max;
  private final TimerScheduler<RoomInbox> timers;
  private List<Room.Command> held;

  HeldForMembers(long startedAtMillis, long graceMillis, int max, TimerScheduler<RoomInbox> timers) {
    this.until = startedAtMillis + graceMillis;
    this.max = max;
    this.timers = timers;
  }

  /** Holds the request if the room is still in its grace and has room for it; the first starts the {@link #RELEASE} timer. */
  boolean hold(Room.Command request, long nowMillis) {
    if (nowMillis >= until || (held != null && held.size() >= max)) {
      return false;
    }
    if (held == null) {
      held = new ArrayList<>();
      timers.startSingleTimer(RELEASE, RELEASE, Duration.ofMillis(until - nowMillis + 1));
    }
    held.add(request);
    return true;
  }

  /** The held requests, oldest first; none are held afterwards. */
  List<Room.Command> release() {
    List<Room.Command> out = held == null ? List.of() : held;
    held = null;
    return out;
  }
}

package lms.realtime.room;

import java.util.ArrayList;
import java.util.List;

/**
 * Requests a room holds back in its first moments because they come from sockets it does not know
 * yet. A room that was handed on, or came back after a crash, learns its members from their hubs'
 * re-joins, which travel behind the death watch of its previous incarnation; a socket's publish or
 * presence query sent meanwhile can arrive first. Answering it {@code not_joined} or
 * {@code forbidden} would be wrong (the socket is joined), so it waits, at most until the grace
 * ends, for the re-join that makes it known. Bounded in count; past the bound it is answered at once.
 */
final class HeldForMembers {
  private final long until;
  private final int max;
  private List<Room.Command> held;

  HeldForMembers(long startedAtMillis, long graceMillis, int max) {
    this.until = startedAtMillis + graceMillis;
    this.max = max;
  }

  /** Holds the request if the room is still in its grace and has room for it. */
  boolean hold(Room.Command request, long nowMillis) {
    if (nowMillis >= until || (held != null && held.size() >= max)) {
      return false;
    }
    if (held == null) {
      held = new ArrayList<>();
    }
    held.add(request);
    return true;
  }

  boolean isEmpty() {
    return held == null;
  }

  /** When the grace ends: the held requests are answered then, whatever happened. */
  long untilMillis() {
    return until;
  }

  /** The held requests, oldest first; none are held afterwards. */
  List<Room.Command> release() {
    List<Room.Command> out = held == null ? List.of() : held;
    held = null;
    return out;
  }
}

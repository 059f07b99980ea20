package lms.realtime.fanout;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One room as a hub knows it: the room's current actor, the last position delivered, the local
 * members, and those members grouped by drainer (one delivery task per event loop per event).
 */
final class Subscription {
  /** A local member: where its frames go, and what its room needs to take it back. */
  record Member(Outbox outbox, MemberInfo info) {}

  /** Members that one drainer writes to; the array is never changed once built. */
  record Group(Drainer drainer, Outbox[] outboxes) {}

  private static final Group[] NO_GROUPS = new Group[0];

  ActorRef<RoomInbox> roomActor;
  String epoch;
  long seq;
  final Map<ActorRef<MemberInbox>, Member> members = new HashMap<>();
  /** The members a re-join is under way for (null: none): they, and only they, get the catch-up. */
  Set<ActorRef<MemberInbox>> rejoining;
  /**
   * While a gap in the events is recovered (null otherwise): what the room said to this node's
   * sockets since, in the order it came, waiting for the room's answer ({@link GapRecovery}).
   */
  ArrayDeque<Hub.Command> held;
  /** Members by drainer, for events and for presence watchers; null until needed after a change. */
  private Group[] everyone;
  private Group[] watchers;

  boolean recovering() {
    return held != null;
  }

  void put(ActorRef<MemberInbox> socket, Member member) {
    Member before = members.put(socket, member);
    changed(member);
    if (before != null) {
      changed(before);
    }
  }

  void remove(ActorRef<MemberInbox> socket) {
    Member gone = members.remove(socket);
    if (gone != null) {
      changed(gone);
    }
  }

  /** Hands one frame to every member (or every presence watcher), one task per drainer. */
  void deliver(Frame frame, boolean watchersOnly) {
    for (Group group : groups(watchersOnly)) {
      group.drainer().deliver(frame, group.outboxes(), group.outboxes().length);
    }
  }

  private void changed(Member m) {
    everyone = null;
    if (m.info().seesPresence()) {
      watchers = null; // a student joining leaves the instructors' groups as they are
    }
  }

  private Group[] groups(boolean watchersOnly) {
    if (watchersOnly) {
      return watchers != null ? watchers : (watchers = group(true));
    }
    return everyone != null ? everyone : (everyone = group(false));
  }

  private Group[] group(boolean watchersOnly) {
    Map<Drainer, List<Outbox>> byDrainer = new IdentityHashMap<>(4);
    for (Member m : members.values()) {
      if (!watchersOnly || m.info().seesPresence()) {
        byDrainer.computeIfAbsent(m.outbox().drainer(), d -> new ArrayList<>()).add(m.outbox());
      }
    }
    if (byDrainer.isEmpty()) {
      return NO_GROUPS;
    }
    Group[] groups = new Group[byDrainer.size()];
    int i = 0;
    for (Map.Entry<Drainer, List<Outbox>> e : byDrainer.entrySet()) {
      groups[i++] = new Group(e.getKey(), e.getValue().toArray(new Outbox[0]));
    }
    return groups;
  }
}

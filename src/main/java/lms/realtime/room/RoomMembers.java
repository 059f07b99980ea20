package lms.realtime.room;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Who is in a room: each member socket with the hub of its node, how many members each hub has (the
 * hubs an event goes to), and presence (by user, in arrival order).
 */
final class RoomMembers {
  record Member(MemberInfo info, ActorRef<Hub.Command> hub) {}

  /** A member taken out, and whether its user left presence with it (their last socket here). */
  record Gone(Member member, boolean userLeft) {}

  private final Map<ActorRef<MemberInbox>, Member> members = new HashMap<>();
  private final Map<ActorRef<Hub.Command>, Integer> hubs = new HashMap<>();
  private final RoomPresence presence = new RoomPresence();

  boolean contains(ActorRef<MemberInbox> socket) {
    return members.containsKey(socket);
  }

  Member get(ActorRef<MemberInbox> socket) {
    return members.get(socket);
  }

  boolean isEmpty() {
    return members.isEmpty();
  }

  int size() {
    return members.size();
  }

  Set<ActorRef<Hub.Command>> hubs() {
    return hubs.keySet();
  }

  RoomPresence presence() {
    return presence;
  }

  /** Adds a socket; returns its user's presence entry (JSON) when it is the user's first socket here, else null. */
  String add(MemberInfo info, ActorRef<Hub.Command> hub) {
    members.put(info.socket(), new Member(info, hub));
    hubs.merge(hub, 1, Integer::sum);
    return presence.arrive(info.userId(), info.name(), info.role());
  }

  /** Takes a socket out; null when it was no member. */
  Gone remove(ActorRef<MemberInbox> socket) {
    Member member = members.remove(socket);
    if (member == null) {
      return null;
    }
    hubs.computeIfPresent(member.hub(), (h, n) -> n == 1 ? null : n - 1);
    return new Gone(member, presence.leave(member.info().userId()));
  }

  List<ActorRef<MemberInbox>> socketsOf(String userId) {
    List<ActorRef<MemberInbox>> sockets = new ArrayList<>();
    members.forEach((socket, m) -> {
      if (m.info().userId().equals(userId)) {
        sockets.add(socket);
      }
    });
    return sockets;
  }
}

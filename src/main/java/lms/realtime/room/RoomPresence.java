package lms.realtime.room;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.ServerFrames;

/**
 * Who is in a room: user → name, role and how many of the user's sockets are in it, in the order the
 * users arrived. The name and role come from the user's first socket.
 */
final class RoomPresence {
  private static final class Entry {
    final String name;
    final String role;
    int connections;

    Entry(String name, String role) {
      this.name = name;
      this.role = role;
    }
  }

  private final Map<String, Entry> users = new LinkedHashMap<>();

  /** Counts one more socket of the user; returns the user's entry (JSON) when it is the first, else null. */
  String arrive(String userId, String name, String role) {
    Entry e = users.computeIfAbsent(userId, u -> new Entry(name, role));
    return ++e.connections == 1 ? json(userId, e) : null;
  }

  /** Counts one socket of the user less; returns true when it was the user's last. */
  boolean leave(String userId) {
    Entry e = users.get(userId);
    if (e != null && --e.connections == 0) {
      users.remove(userId);
      return true;
    }
    return false;
  }

  int size() {
    return users.size();
  }

  /** The entries as the backend API lists them. */
  List<Room.PresenceUser> list() {
    List<Room.PresenceUser> out = new ArrayList<>(users.size());
    users.forEach((userId, e) -> out.add(new Room.PresenceUser(userId, e.name, e.role, e.connections)));
    return out;
  }

  /** The entries as a socket's {@code presence} frame carries them. */
  private List<String> json() {
    List<String> out = new ArrayList<>(users.size());
    users.forEach((userId, e) -> out.add(json(userId, e)));
    return out;
  }

  /**
   * A socket's {@code presence} reply, or a {@code too_large} error when the reply is larger than
   * {@code maxBytes} (what a socket may have queued: it would be closed as a slow reader, 4008, for asking).
   */
  String frame(String requestId, String room, long maxBytes) {
    List<String> entries = json();
    String frame = ServerFrames.presence(requestId, room, entries);
    if (Json.utf8Length(frame) <= maxBytes) {
      return frame;
    }
    return ServerFrames.error(requestId, ErrorCodes.TOO_LARGE, "the presence of " + entries.size()
        + " users is larger than a socket's budget; the backend API has it (GET /api/v1/rooms/{room}/presence)");
  }

  private static String json(String userId, Entry e) {
    return ServerFrames.presenceUser(userId, e.name, e.role, e.connections);
  }
}

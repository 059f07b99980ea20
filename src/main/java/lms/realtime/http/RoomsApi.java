package lms.realtime.http;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.room.Room;
import lms.realtime.session.NodeContext;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The backend's reads and removals of a room (contract §6 and this engine's recent events): a route
 * per call, each answering a record below through {@link Responses#JSON}. The room's writes are
 * {@link Publishing}'s.
 */
final class RoomsApi extends AllDirectives {
  /** {@code GET …/rooms/{room}/events}: the frames as the room keeps them, newest {@code limit}, oldest first. */
  @JsonPropertyOrder({"room", "epoch", "seq", "recovered", "events"})
  record RecentEvents(String room, String epoch, long seq, boolean recovered, List<RawJson> events) {}

  /** {@code GET …/rooms/{room}/presence}: §5's entries. */
  @JsonPropertyOrder({"room", "users"})
  record Presence(String room, List<RawJson> users) {}

  /** {@code DELETE …/rooms/{room}/members/{userId}}: the user's sockets that left the room, on all nodes. */
  record Removal(int removed) {}

  private final NodeContext node;

  RoomsApi(NodeContext node) {
    this.node = node;
  }

  /**
   * A room's recent events: the frames its stream keeps after {@code since}, or all it keeps when it
   * cannot cover that position or none is given, the newest {@code limit} of them, oldest first.
   * {@code recovered}: every frame after {@code since} is in the answer. For a page that opens (or
   * reloads) and shows what happened before it joined.
   */
  Route events(String room, Optional<StreamQuery.Since> since, Optional<Integer> limit) {
    return roomName(room, () -> onSuccess(StreamQuery.read(node, room, since), read -> {
      int most = limit.orElse(StreamQuery.DEFAULT_READ);
      int kept = read.frames().size();
      boolean cut = kept > most;
      List<String> frames = cut ? read.frames().subList(kept - most, kept) : read.frames();
      return completeOK(new RecentEvents(read.room(), read.epoch(), read.seq(),
          since.isPresent() && read.complete() && !cut, RawJson.all(frames)), Responses.JSON);
    }));
  }

  Route presence(String room) {
    return roomName(room, () -> onSuccess(node.sharding().entityRefFor(Room.KEY, room)
        .<Room.PresenceList>ask(Room.GetPresence::new, node.settings().http().askTimeout()), list -> {
          List<RawJson> users = new ArrayList<>(list.users().size());
          for (Room.PresenceUser u : list.users()) {
            users.add(new RawJson(ServerFrames.presenceUser(u.userId(), u.name(), u.role(), u.connections())));
          }
          return completeOK(new Presence(list.room(), users), Responses.JSON);
        }));
  }

  Route removeMember(String room, String userId) {
    if (RoomName.parse(room) == null || !RoomName.validUserId(userId)) {
      return complete(ApiError.badRequest("not a room name and user id: " + room + ", " + userId).response());
    }
    return onSuccess(node.sharding().entityRefFor(Room.KEY, room)
        .<Room.Removal>ask(replyTo -> new Room.RemoveUser(userId, replyTo), node.settings().http().askTimeout()),
        r -> r instanceof Room.Removed removed
            ? completeOK(new Removal(removed.removed()), Responses.JSON)
            : complete(ApiError.unavailable(((Room.Unavailable) r).message()).response()));
  }

  /** {@code inner} for a room name, else the 400. */
  private Route roomName(String room, Supplier<Route> inner) {
    return RoomName.parse(room) == null ? complete(ApiError.badRequest("not a room name: " + room).response()) : inner.get();
  }
}

package lms.realtime.session;

import java.util.HashMap;
import java.util.Map;
import lms.realtime.auth.Identity;
import lms.realtime.auth.Membership;
import lms.realtime.auth.RoomAccess;
import lms.realtime.auth.RoomGrant;
import lms.realtime.auth.TokenException;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.room.Room;
import lms.realtime.user.User;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * What one socket's client frames ask, once past its rate gate: ping, join, leave, publish,
 * presence; and the rooms the socket is in, in its own books (what it may do in each). What it can
 * answer itself (a malformed frame, a bad name, a room it may not join, a leave of a room it is not
 * in) it answers at once; the rest goes to the room, with the hub of this node that the room answers
 * through. Part of the socket's actor ({@link Connection}), so it runs on the actor's thread only.
 */
final class ClientRequests {
  private final NodeContext node;
  /** The socket's verified access token: the handshake's, then each accepted {@code refresh}'s. */
  private Identity identity;
  private final ActorRef<MemberInbox> self;
  private final Outbox outbox;
  private final Map<String, Membership> rooms = new HashMap<>(4);
  /** Its own {@code user:} room's name. */
  private final RoomName ownName;
  private final String ownRoom;
  /** The socket has joined its own room explicitly (once, for recovery; it is a member from the start). */
  private boolean ownRoomJoined;

  ClientRequests(NodeContext node, Identity identity, ActorRef<MemberInbox> self, Outbox outbox) {
    this.node = node;
    this.identity = identity;
    this.self = self;
    this.outbox = outbox;
    this.ownName = RoomName.user(identity.userId());
    this.ownRoom = ownName.value();
  }

  /** The socket's own {@code user:} room. */
  String ownRoom() {
    return ownRoom;
  }

  /** Its own {@code user:} room, in its own books only (the user entity subscribes it while that room runs). */
  void openOwnRoom() {
    rooms.put(ownRoom, RoomAccess.join(identity, ownName, null));
  }

  /** The room let the socket go (see {@link MemberInbox.RoomLeft}): out of the books, then its last frame. */
  void roomLeft(MemberInbox.RoomLeft left) {
    rooms.remove(left.room());
    if (left.lastFrame() != null) {
      outbox.sendText(left.lastFrame());
    }
  }

  /** The socket closes: it leaves every room at once, silently (presence does not wait for the peer). */
  void leaveAll() {
    for (String room : rooms.keySet()) {
      if (!room.equals(ownRoom)) { // that one watches its members, if it runs at all
        roomRef(room).tell(new Room.SocketClosing(self, node.hubs().forRoom(room)));
      }
    }
    rooms.clear();
  }

  Identity identity() {
    return identity;
  }

  /** A text frame from the client; true when it was an accepted {@code refresh} (the token's deadline moved). */
  boolean read(String text) {
    ClientFrame frame;
    try {
      frame = ClientFrame.parse(node.json(), text);
    } catch (ClientFrame.Invalid e) {
      outbox.sendText(ServerFrames.error(e.id, e.code, e.getMessage()));
      return false;
    }
    if (frame instanceof ClientFrame.Refresh r) {
      return refresh(r);
    }
    if (frame instanceof ClientFrame.Ping) {
      outbox.sendText(ServerFrames.pong(frame.id()));
    } else if (frame instanceof ClientFrame.Join j) {
      join(j);
    } else if (frame instanceof ClientFrame.Leave l) {
      leave(l);
    } else if (frame instanceof ClientFrame.Publish p) {
      publish(p);
    } else {
      presence((ClientFrame.PresenceQuery) frame);
    }
    return false;
  }

  /**
   * In-band refresh (contract §9): a valid access token of the same user replaces the socket's, and
   * each joined room is checked again against its claims: a course no longer in {@code courses} is
   * left, {@code left} with {@code "reason":"revoked"} coming through the room (in order after its
   * events). A live room's right comes from its room token, not the access token: it stays. What a
   * room was told at the join (the member's role, whether it sees presence, the credential's
   * {@code iat} that removals check) stays as it was. An invalid token, or another user's, is an
   * {@code error} and changes nothing.
   */
  private boolean refresh(ClientFrame.Refresh refresh) {
    Identity next;
    try {
      Handshake.requireWithinBound(refresh.token(), node.settings().jwt().maxTokenBytes());
      next = node.verifier().verifyAccess(refresh.token());
    } catch (TokenException e) {
      error(refresh.id(), ErrorCodes.UNAUTHORIZED, "token refused: " + e.getMessage());
      return false;
    }
    if (!next.userId().equals(identity.userId())) {
      error(refresh.id(), ErrorCodes.FORBIDDEN, "a refresh token must be of the same user (sub " + identity.userId() + ")");
      return false;
    }
    identity = next;
    for (var it = rooms.entrySet().iterator(); it.hasNext(); ) {
      var entry = it.next();
      RoomName room = RoomName.parse(entry.getKey());
      if (room.kind() != RoomName.Kind.LIVE && RoomAccess.join(next, room, null) == null) {
        it.remove();
        roomRef(entry.getKey()).tell(new Room.AccessRevoked(self, node.hubs().forRoom(entry.getKey())));
      } else if (room.kind() != RoomName.Kind.LIVE) {
        entry.setValue(RoomAccess.join(next, room, null).withIssuedAt(entry.getValue().issuedAt()));
      }
    }
    outbox.sendText(ServerFrames.refreshed(refresh.id(), next.expiresAt()));
    return true;
  }

  private void join(ClientFrame.Join join) {
    RoomName room = RoomName.parse(join.room());
    if (room == null) {
      badRoom(join.id(), join.room());
      return;
    }
    RoomGrant grant = null;
    if (room.kind() == RoomName.Kind.LIVE) {
      if (join.token() == null) {
        error(join.id(), ErrorCodes.FORBIDDEN, "a live room is joined with a room token");
        return;
      }
      try {
        Handshake.requireWithinBound(join.token(), node.settings().jwt().maxTokenBytes());
        grant = node.verifier().verifyRoomToken(join.token());
      } catch (TokenException e) {
        error(join.id(), ErrorCodes.FORBIDDEN, "room token refused: " + e.getMessage());
        return;
      }
    }
    Membership membership = RoomAccess.join(identity, room, grant);
    if (membership == null) {
      error(join.id(), ErrorCodes.FORBIDDEN, "may not join " + room);
      return;
    }
    boolean own = room.value().equals(ownRoom);
    // A join of a room this socket has joined already goes to the room marked "again": the room
    // answers bad_request when the socket is its member (a second joined frame with everything missed
    // was issue 12's memory attack) and serves it in full when the first join never arrived. The own
    // room may be joined explicitly once, for recovery.
    boolean again = rooms.containsKey(room.value()) && (!own || ownRoomJoined);
    int max = node.settings().limits().maxRoomsPerConnection();
    if (!again && !rooms.containsKey(room.value()) && rooms.size() >= max) {
      error(join.id(), ErrorCodes.BAD_REQUEST, "at most " + max + " rooms per connection");
      return;
    }
    if (!again) {
      rooms.put(room.value(), membership);
    }
    if (own && !again) {
      ownRoomJoined = true;
      userRef().tell(new User.OwnRoom(self, true));
    }
    // A removal bars credentials issued before it (for a live room either one: the membership has the older iat).
    roomRef(room.value()).tell(new Room.Join(self, node.hubs().forRoom(room.value()), join.id(), identity.userId(),
        identity.name(), membership.role(), membership.canSeePresence(), membership.issuedAt(), join.since(), again));
  }

  private void leave(ClientFrame.Leave leave) {
    if (RoomName.parse(leave.room()) == null) {
      badRoom(leave.id(), leave.room());
      return;
    }
    if (rooms.remove(leave.room()) == null) {
      // not joined: answered here, without starting the room's entity (issue 12: a flood of leaves
      // with random names used to start one entity each)
      outbox.sendText(ServerFrames.left(leave.id(), leave.room(), null));
      return;
    }
    if (leave.room().equals(ownRoom)) {
      ownRoomJoined = false;
      userRef().tell(new User.OwnRoom(self, false));
    }
    roomRef(leave.room()).tell(new Room.Leave(self, node.hubs().forRoom(leave.room()), leave.id()));
  }

  private void publish(ClientFrame.Publish publish) {
    Membership m = rooms.get(publish.room());
    if (m == null) {
      RoomName room = RoomName.parse(publish.room());
      if (room == null) {
        badRoom(publish.id(), publish.room());
      } else if (room.kind() != RoomName.Kind.LIVE && RoomAccess.join(identity, room, null) == null) {
        // a room this token could never join (another user's, a course it does not hold) is forbidden;
        // one it could join (a live room needs its room token) is just not joined yet
        error(publish.id(), ErrorCodes.FORBIDDEN, "may not publish to " + room);
      } else {
        error(publish.id(), ErrorCodes.NOT_JOINED, "not joined to " + room);
      }
      return;
    }
    if (!m.canPublish()) {
      error(publish.id(), ErrorCodes.FORBIDDEN, "may not publish to " + publish.room());
      return;
    }
    roomRef(publish.room()).tell(new Room.SocketPublish(publish.event(), publish.data(), identity.userId(),
        self, node.hubs().forRoom(publish.room()), publish.id()));
  }

  private void presence(ClientFrame.PresenceQuery query) {
    RoomName room = RoomName.parse(query.room());
    if (room == null) {
      badRoom(query.id(), query.room());
      return;
    }
    Membership m = rooms.get(room.value());
    if (!RoomAccess.canQueryPresence(identity, room, m)) {
      error(query.id(), ErrorCodes.FORBIDDEN, "may not see presence of " + room);
      return;
    }
    // The room decides for good: it knows whether the join went through, and its removals.
    Long issuedAt = m != null ? m.issuedAt() : identity.issuedAt();
    roomRef(room.value()).tell(new Room.QueryPresence(self, node.hubs().forRoom(room.value()), query.id(),
        identity.userId(), issuedAt, RoomAccess.canQueryPresence(identity, room, null)));
  }

  private void badRoom(String id, String room) {
    error(id, ErrorCodes.BAD_REQUEST, "not a room name: " + room);
  }

  private void error(String id, String code, String message) {
    outbox.sendText(ServerFrames.error(id, code, message));
  }

  private EntityRef<RoomInbox> roomRef(String room) {
    return node.sharding().entityRefFor(Room.KEY, room);
  }

  EntityRef<User.Command> userRef() {
    return node.sharding().entityRefFor(User.KEY, identity.userId());
  }
}

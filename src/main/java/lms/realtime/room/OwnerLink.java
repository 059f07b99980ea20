package lms.realtime.room;

import lms.realtime.fanout.RoomInbox;
import lms.realtime.protocol.RoomName;
import lms.realtime.user.User;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * A {@code user:} room's link to its user entity, which holds the user's sockets ({@link User}):
 * the room attaches when it starts, takes the sockets it is handed as members (every socket is in
 * its own room from the start, whether that room runs or not), and attaches again to the entity's
 * next incarnation when the one it knew stops.
 */
final class OwnerLink {
  /** The user entity this room is attached to stopped (moved, or its node died). */
  record EntityGone(ActorRef<User.Command> entity) implements Room.Command {}

  private final String userId;
  private final RoomActor room;
  private final ActorContext<RoomInbox> ctx;
  private final ClusterSharding sharding;
  private ActorRef<User.Command> entity;

  private OwnerLink(String userId, RoomActor room, ActorContext<RoomInbox> ctx, ClusterSharding sharding) {
    this.userId = userId;
    this.room = room;
    this.ctx = ctx;
    this.sharding = sharding;
  }

  /** The link of a {@code user:} room, attached at once; null for any other room. */
  static OwnerLink forRoom(String name, RoomActor room, ActorContext<RoomInbox> ctx, ClusterSharding sharding) {
    RoomName parsed = RoomName.parse(name);
    if (parsed == null || parsed.kind() != RoomName.Kind.USER) {
      return null;
    }
    OwnerLink link = new OwnerLink(parsed.key(), room, ctx, sharding);
    link.attach(false);
    return link;
  }

  /**
   * Asks the user entity for the user's sockets (and every new one). Not while this node shuts down
   * or the room passivates: the room is about to be handed on itself, and its next incarnation
   * attaches; a message now would only start a user entity in a region that is being stopped.
   */
  void attach(boolean passivating) {
    if (!passivating && CoordinatedShutdown.get(ctx.getSystem()).getShutdownReason().isEmpty()) {
      sharding.entityRefFor(User.KEY, userId).tell(new User.AttachRoom(ctx.getSelf().narrow()));
    }
  }

  /** The user entity's sockets, to take as members, silently. */
  void take(User.OwnSockets sockets) {
    if (!sockets.user().equals(entity)) {
      if (entity != null) {
        ctx.unwatch(entity);
      }
      entity = sockets.user();
      ctx.watchWith(entity, new EntityGone(entity));
    }
    for (User.OwnRoomSocket socket : sockets.sockets()) {
      room.takeOwnSocket(socket.member(), socket.hub(), socket.tokenIssuedAt());
    }
  }

  /** The user entity moved or died: attach to its next incarnation, which the sockets re-register with. */
  void gone(EntityGone gone, boolean passivating) {
    if (gone.entity().equals(entity)) {
      entity = null;
      attach(passivating);
    }
  }
}

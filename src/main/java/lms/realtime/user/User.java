package lms.realtime.user;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ExtensibleBehavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One user (Cluster Sharding entity keyed by user id): their sockets on every node. It enforces the
 * per-user limit cluster-wide by construction, answers user presence and fans notifications out to
 * every device. It watches its sockets, so a socket that dies, or whose node dies, frees its slot.
 *
 * <p>It is also the member list of the user's own {@code user:} room, so that room need not run for
 * every socket: the room, when something starts it (an event, a join, a presence query), attaches
 * here and is handed the user's sockets; while it runs, each new socket is joined to it at once.
 * With no socket left and no room attached it passivates: it holds nothing else.
 */
public final class User extends ExtensibleBehavior<User.Command> {
  public static final EntityTypeKey<Command> KEY = EntityTypeKey.create(Command.class, "User");

  public sealed interface Command extends CborSerializable {}

  /**
   * A socket asks for a slot (answered with an {@link Admission}, straight to the socket's actor: no
   * ask). {@code member}, {@code hub} and {@code issuedAt} are what its own room needs to take it as a
   * member: the socket, the hub of that room on the socket's node, the access token's iat.
   */
  public record Register(MemberInfo member, int limit, ActorRef<Hub.Command> hub, Long issuedAt) implements Command {}

  /**
   * The answer to {@link Register}: admitted or over the per-user limit; {@code entity} is this user
   * entity, which the socket watches so that it registers again with its next incarnation.
   */
  public record Admission(boolean admitted, ActorRef<Command> entity) implements MemberInbox {}

  public record Unregister(ActorRef<MemberInbox> socket) implements Command {}

  /** A socket left its own room, or joined it again, itself. */
  public record OwnRoom(ActorRef<MemberInbox> socket, boolean member) implements Command {}

  /** The user's own room runs: it wants the user's sockets now ({@link OwnSockets}), and each new one as it comes. */
  public record AttachRoom(ActorRef<OwnSockets> room) implements Command {}

  /** One of the user's sockets, as this entity hands it to the user's own room. */
  public record OwnRoomSocket(MemberInfo member, ActorRef<Hub.Command> hub, Long tokenIssuedAt) implements CborSerializable {}

  /**
   * To the {@code user:} room: sockets to take as members, silently (every socket is in its own room
   * from the start, whether that room runs or not).
   */
  public record OwnSockets(ActorRef<Command> user, List<OwnRoomSocket> sockets) implements RoomInbox {}

  public record Notify(String frame, ActorRef<Delivered> replyTo) implements Command {}

  /** Connections a notification that is not kept reached (a kept one is its {@code user:} room's: {@code Room.Append}). */
  public record Delivered(int delivered) implements CborSerializable {}

  public record GetPresence(ActorRef<UserPresence> replyTo) implements Command {}

  public record UserPresence(String userId, boolean online, int connections) implements CborSerializable {}

  private record SocketGone(ActorRef<MemberInbox> socket) implements Command {}

  private record RoomGone(ActorRef<OwnSockets> room) implements Command {}

  private enum Stop implements Command {
    INSTANCE
  }

  /** What this entity keeps of one socket. */
  private static final class Socket {
    final OwnRoomSocket asMember;
    boolean inOwnRoom = true;

    Socket(OwnRoomSocket asMember) {
      this.asMember = asMember;
    }
  }

  public static void init(ActorSystem<?> system, Metrics metrics) {
    ClusterSharding.get(system)
        .init(Entity.of(KEY, ctx -> create(ctx.getEntityId(), ctx.getShard(), metrics)).withStopMessage(Stop.INSTANCE));
  }

  /** The entity of {@code userId}; {@code shard} is told when it passivates. */
  static Behavior<Command> create(String userId, ActorRef<ClusterSharding.ShardCommand> shard, Metrics metrics) {
    return Behaviors.setup(ctx -> new User(ctx, userId, shard, metrics));
  }

  private final ActorContext<Command> ctx;
  private final String userId;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final Metrics metrics;
  private final Map<ActorRef<MemberInbox>, Socket> connections = new HashMap<>(4);
  /** The user's own room while it runs, else null. */
  private ActorRef<OwnSockets> ownRoom;
  private boolean passivating;

  private User(ActorContext<Command> ctx, String userId, ActorRef<ClusterSharding.ShardCommand> shard, Metrics metrics) {
    this.ctx = ctx;
    this.userId = userId;
    this.shard = shard;
    this.metrics = metrics;
  }

  @Override
  public Behavior<Command> receive(TypedActorContext<Command> context, Command msg) {
    if (msg == Stop.INSTANCE) {
      return Behaviors.stopped();
    }
    if (passivating && !(msg instanceof SocketGone || msg instanceof RoomGone)) {
      // See Room: between Passivate and Stop, messages go back through the shard's buffer.
      ClusterSharding.get(ctx.getSystem()).entityRefFor(KEY, userId).tell(msg);
      return this;
    }
    if (msg instanceof Register r) {
      return onRegister(r);
    } else if (msg instanceof Unregister u) {
      return remove(u.socket());
    } else if (msg instanceof SocketGone g) {
      return remove(g.socket());
    } else if (msg instanceof Notify n) {
      return onNotify(n);
    } else if (msg instanceof GetPresence g) {
      g.replyTo().tell(new UserPresence(userId, !connections.isEmpty(), connections.size()));
      return passivateIfIdle();
    } else if (msg instanceof OwnRoom o) {
      Socket s = connections.get(o.socket());
      if (s != null) {
        s.inOwnRoom = o.member();
      }
      return this;
    } else if (msg instanceof AttachRoom a) {
      return onAttachRoom(a);
    } else if (msg instanceof RoomGone gone) {
      if (gone.room().equals(ownRoom)) {
        ownRoom = null;
      }
      return passivateIfIdle();
    }
    return Behaviors.unhandled();
  }

  @Override
  public Behavior<Command> receiveSignal(TypedActorContext<Command> context, Signal signal) {
    if (signal instanceof PostStop && !connections.isEmpty()) {
      metrics.userOffline();
    }
    return this;
  }

  private Behavior<Command> onRegister(Register register) {
    ActorRef<MemberInbox> socket = register.member().socket();
    if (connections.containsKey(socket)) {
      socket.tell(new Admission(true, ctx.getSelf()));
      return this;
    }
    if (connections.size() >= register.limit()) {
      socket.tell(new Admission(false, ctx.getSelf()));
      return passivateIfIdle();
    }
    OwnRoomSocket asMember = new OwnRoomSocket(register.member(), register.hub(), register.issuedAt());
    connections.put(socket, new Socket(asMember));
    ctx.watchWith(socket, new SocketGone(socket));
    if (connections.size() == 1) {
      metrics.userOnline();
    }
    socket.tell(new Admission(true, ctx.getSelf()));
    if (ownRoom != null) {
      ownRoom.tell(new OwnSockets(ctx.getSelf(), List.of(asMember)));
    }
    return this;
  }

  /** The own room started (or moved): it gets every socket that has not left it. */
  private Behavior<Command> onAttachRoom(AttachRoom attach) {
    if (ownRoom != null && !ownRoom.equals(attach.room())) {
      ctx.unwatch(ownRoom);
    }
    ownRoom = attach.room();
    ctx.watchWith(ownRoom, new RoomGone(ownRoom));
    List<OwnRoomSocket> members = new ArrayList<>(connections.size());
    for (Socket s : connections.values()) {
      if (s.inOwnRoom) {
        members.add(s.asMember);
      }
    }
    ownRoom.tell(new OwnSockets(ctx.getSelf(), members));
    return this;
  }

  private Behavior<Command> remove(ActorRef<MemberInbox> socket) {
    if (connections.remove(socket) != null) {
      ctx.unwatch(socket);
      if (connections.isEmpty()) {
        metrics.userOffline();
      }
    }
    return passivateIfIdle();
  }

  private Behavior<Command> onNotify(Notify notify) {
    for (ActorRef<MemberInbox> socket : connections.keySet()) {
      socket.tell(new MemberInbox.Deliver(notify.frame()));
    }
    notify.replyTo().tell(new Delivered(connections.size()));
    return passivateIfIdle();
  }

  /** Nothing to hold: no socket, and no own room that counts on this entity for its members. */
  private Behavior<Command> passivateIfIdle() {
    if (connections.isEmpty() && ownRoom == null && !passivating) {
      passivating = true;
      shard.tell(new ClusterSharding.Passivate<>(ctx.getSelf()));
    }
    return this;
  }
}

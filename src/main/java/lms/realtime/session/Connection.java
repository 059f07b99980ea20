package lms.realtime.session;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import lms.realtime.auth.Identity;
import lms.realtime.auth.Membership;
import lms.realtime.auth.RoomAccess;
import lms.realtime.auth.RoomGrant;
import lms.realtime.auth.TokenException;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.CborSerializable;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.room.Room;
import lms.realtime.session.NodeContext;
import lms.realtime.user.User;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ExtensibleBehavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * One socket: its user, joined rooms and what it may do in each, rate bucket, heartbeat and token
 * deadlines. It registers with its user entity before the upgrade (the per-user limit), then turns
 * client frames into room commands. Rooms and the user entity watch it, so however it ends, it leaves
 * presence.
 *
 * <p>Lean by design, since there is one per socket: an {@link ExtensibleBehavior} whose messages are
 * matched by type (no receive table built per instance), one timer at a time (the next deadline of
 * the phase it is in), and its own {@code user:} room joined only in its own books: the user entity
 * subscribes the socket when that room runs (see {@link User}), so most sockets never start it.
 */
public final class Connection extends ExtensibleBehavior<Connection.Command> {

  public sealed interface Command extends CborSerializable {}

  /** A frame for this socket from an entity that is not a room it joined (a notification, a reply). */
  public record Deliver(String frame) implements Command {}

  public record JoinRefused(String room, String errorFrame) implements Command {}

  /** The room dropped this socket (the backend removed its user); the hub has sent the {@code left}. */
  public record RoomLeft(String room) implements Command {}

  /** Close the socket with this code (node shutdown, operator action, broken framing). */
  public record Close(int code, String reason) implements Command {}

  // --- from the socket's transport (node-local, never serialized) ---

  public sealed interface Incoming {}

  public record Text(String text) implements Incoming {}

  public enum Binary implements Incoming {
    INSTANCE
  }

  /** The socket is upgraded and attached; {@code ack} lets it read the first message. */
  public record SocketOpened(Runnable ack) implements Command {}

  /** A message from the client; {@code ack} lets the transport read the next one. */
  public record Inbound(Runnable ack, Incoming incoming) implements Command {}

  /** The socket's TCP connection is gone (whoever ended it). */
  public enum SocketClosed implements Command {
    INSTANCE
  }

  /** A message passed the size bound; the rest of it is skipped as it arrives. */
  public enum FrameTooLarge implements Command {
    INSTANCE
  }

  /**
   * The user entity's answer to {@link User.Register}, sent straight to this socket's actor (no
   * ask): admitted or over the per-user limit; {@code entity} is the user entity, watched so that
   * the socket registers again with its next incarnation.
   */
  public record Admission(boolean admitted, ActorRef<User.Command> entity) implements Command {}

  /** The user entity this socket is registered with stopped (moved to another node, or its node died). */
  private record UserEntityGone(ActorRef<User.Command> entity) implements Command {}

  private enum Tick implements Command {
    /** Admitting: ask the user entity again, or, past the ask timeout, give up (503). */
    ADMIT_TIMEOUT,
    /** Attaching: the transport did not attach in time. */
    ATTACH_TIMEOUT,
    /** Open: the next heartbeat or token deadline. */
    DEADLINE,
    /** Closing: the peer did not finish the close in time. */
    CLOSE_TIMEOUT,
    /** The outbox closed the socket itself (a slow reader). */
    OUTBOX_CLOSED
  }

  private enum Phase {
    ADMITTING,
    ATTACHING,
    OPEN,
    CLOSING
  }

  /** How long an admitted socket may take to be upgraded and attached. */
  /** The scheduler takes delays up to about 248 days; a longer-lived token is checked again daily. */
  private static final long MAX_TIMER_NANOS = Duration.ofDays(1).toNanos();

  static Behavior<Command> create(NodeContext node, Identity identity, String connectionId, Outbox outbox, Gate gate,
      String ip, CompletableFuture<Boolean> admitted) {
    return Behaviors.setup(ctx -> new Connection(ctx, node, identity, connectionId, outbox, gate, ip, admitted));
  }

  private final ActorContext<Command> ctx;
  private final NodeContext node;
  private final Identity identity;
  private final String connectionId;
  private final Outbox outbox;
  private final String ip;
  private CompletableFuture<Boolean> admitted;
  private final Map<String, Membership> rooms = new HashMap<>(4);
  private final String ownRoom;
  private final Gate gate;
  private final long heartbeatNanos;
  private Phase phase = Phase.ADMITTING;
  private long admitDeadline;
  /** Registering again with a user entity that moved, not answered yet (retried at each deadline). */
  private boolean reregistering;
  /** The socket has joined its own room explicitly (once, for recovery; it is a member from the start). */
  private boolean ownRoomJoined;
  private Cancellable timer;

  private Connection(
      ActorContext<Command> ctx,
      NodeContext node,
      Identity identity,
      String connectionId,
      Outbox outbox,
      Gate gate,
      String ip,
      CompletableFuture<Boolean> admitted) {
    this.ctx = ctx;
    this.gate = gate;
    this.node = node;
    this.identity = identity;
    this.connectionId = connectionId;
    this.outbox = outbox;
    this.ip = ip;
    this.admitted = admitted;
    this.ownRoom = RoomName.user(identity.userId()).value();
    this.heartbeatNanos = Duration.ofSeconds(node.settings().heartbeatSeconds()).toNanos();
    ActorRef<Command> self = ctx.getSelf();
    node.sockets().register(self, outbox);
    outbox.onOverflow(() -> self.tell(Tick.OUTBOX_CLOSED));
    register(node.settings().maxConnectionsPerUser());
    admitDeadline = System.nanoTime() + node.settings().askTimeout().toNanos();
    startTimer(nextAdmitTick(), Tick.ADMIT_TIMEOUT);
  }

  /**
   * The admission is asked again every {@code lms.internals.admit-retry} until the ask timeout: a shard region
   * drops what it buffered for a shard that starts a hand-off (Pekko: "Dropping buffered messages
   * ... to avoid re-ordering"), so a registration sent while the user's shard moved (a rolling
   * restart, a rebalance) was lost and the handshake got 503 after 5 s. Registering is idempotent.
   */
  private Duration nextAdmitTick() {
    long left = admitDeadline - System.nanoTime();
    return Duration.ofNanos(Math.max(0, Math.min(left, node.settings().internals().admitRetry().toNanos())));
  }

  /**
   * Registers with the user entity, with what it needs to subscribe this socket to its own room;
   * the {@link Admission} comes back to this actor.
   */
  private void register(int limit) {
    ActorRef<Command> self = ctx.getSelf();
    Hub.MemberInfo member = new Hub.MemberInfo(self, identity.userId(), identity.name(), null, true);
    userRef().tell(new User.Register(self, limit, member, node.hubs().forRoom(ownRoom), identity.issuedAt()));
  }

  @Override
  public Behavior<Command> receive(TypedActorContext<Command> context, Command msg) {
    if (msg instanceof Inbound inbound) {
      return onInbound(inbound);
    } else if (msg instanceof Deliver d) {
      outbox.sendText(d.frame()); // queued behind welcome by the outbox, whenever it comes
      return this;
    } else if (msg instanceof Tick tick) {
      return onTick(tick);
    } else if (msg instanceof Admission admission) {
      return onAdmission(admission);
    } else if (msg instanceof SocketOpened opened) {
      return onSocketOpened(opened);
    } else if (msg instanceof SocketClosed) {
      return Behaviors.stopped();
    } else if (msg instanceof JoinRefused refused) {
      rooms.remove(refused.room());
      outbox.sendText(refused.errorFrame());
      return this;
    } else if (msg instanceof RoomLeft left) {
      rooms.remove(left.room());
      return this;
    } else if (msg instanceof Close close) {
      return closeWith(close.code(), close.reason());
    } else if (msg instanceof FrameTooLarge) {
      return closeWith(CloseCodes.TOO_LARGE, "frame larger than " + node.settings().maxFrameBytes() + " bytes");
    } else if (msg instanceof UserEntityGone) {
      if (phase != Phase.CLOSING) {
        reregistering = true;
        register(Integer.MAX_VALUE);
      }
      return this;
    }
    return Behaviors.unhandled();
  }

  @Override
  public Behavior<Command> receiveSignal(TypedActorContext<Command> context, Signal signal) {
    if (signal instanceof PostStop) {
      onStop();
    }
    return this;
  }

  private Behavior<Command> onTick(Tick tick) {
    return switch (tick) {
      case ADMIT_TIMEOUT -> {
        if (phase != Phase.ADMITTING) {
          yield this;
        }
        if (System.nanoTime() < admitDeadline) {
          register(node.settings().maxConnectionsPerUser());
          startTimer(nextAdmitTick(), Tick.ADMIT_TIMEOUT);
          yield this;
        }
        admitted.completeExceptionally(new TimeoutException("the user entity did not answer"));
        yield Behaviors.stopped();
      }
      case ATTACH_TIMEOUT -> phase == Phase.ATTACHING ? Behaviors.stopped() : this;
      case DEADLINE -> onDeadline();
      case CLOSE_TIMEOUT -> {
        if (phase != Phase.CLOSING) {
          yield this;
        }
        outbox.abort();
        yield Behaviors.stopped();
      }
      case OUTBOX_CLOSED -> closeWith(outbox.closeCode(), "closed");
    };
  }

  private void startTimer(Duration delay, Tick tick) {
    if (timer != null) {
      timer.cancel();
    }
    timer = ctx.scheduleOnce(delay, ctx.getSelf(), tick);
  }

  // --- lifecycle ---

  private Behavior<Command> onAdmission(Admission admission) {
    if (phase != Phase.ADMITTING) {
      // a re-registration after the user entity moved: only the watch needs renewing
      if (phase != Phase.CLOSING) {
        reregistering = false;
        ctx.watchWith(admission.entity(), new UserEntityGone(admission.entity()));
      }
      return this;
    }
    if (!admission.admitted()) {
      admitted.complete(false);
      return Behaviors.stopped();
    }
    phase = Phase.ATTACHING;
    ctx.watchWith(admission.entity(), new UserEntityGone(admission.entity()));
    // ahead of anything an entity sends now that we are registered, whichever comes first
    outbox.welcome(Frame.text(ServerFrames.welcome(connectionId, identity.userId(), node.settings().heartbeatSeconds())));
    startTimer(node.settings().internals().attachTimeout(), Tick.ATTACH_TIMEOUT);
    admitted.complete(true);
    admitted = null;
    return this;
  }

  private Behavior<Command> onSocketOpened(SocketOpened opened) {
    opened.ack().run();
    if (phase != Phase.ATTACHING) {
      return this;
    }
    phase = Phase.OPEN;
    // its own user: room, in its own books only (the user entity subscribes it while that room runs)
    rooms.put(ownRoom, RoomAccess.join(identity, RoomName.user(identity.userId()), null));
    gate.opened(System.nanoTime());
    armDeadline();
    return this;
  }

  /** The next heartbeat or token deadline, whichever is first (a day at most: the scheduler's bound). */
  private void armDeadline() {
    long now = System.nanoTime();
    long heartbeat = gate.lastTextNanos() + 2 * heartbeatNanos - now;
    long token = (tokenExpiresAtMillis() - System.currentTimeMillis()) * 1_000_000L;
    startTimer(Duration.ofNanos(Math.max(0, Math.min(MAX_TIMER_NANOS, Math.min(heartbeat, token)))), Tick.DEADLINE);
  }

  private long tokenExpiresAtMillis() {
    return (identity.expiresAt() + node.settings().clockSkewSeconds()) * 1000;
  }

  private Behavior<Command> onDeadline() {
    if (phase != Phase.OPEN) {
      return this;
    }
    if (System.currentTimeMillis() >= tokenExpiresAtMillis()) {
      return closeWith(CloseCodes.TOKEN_EXPIRED, "token expired");
    }
    if (System.nanoTime() - gate.lastTextNanos() >= 2 * heartbeatNanos) {
      return closeWith(CloseCodes.HEARTBEAT_MISSED, "heartbeat missed");
    }
    if (reregistering) {
      register(Integer.MAX_VALUE); // no answer yet from the user entity's next incarnation: again
    }
    armDeadline();
    return this;
  }

  /**
   * Starts the close: the close frame goes out ahead of anything queued, the socket leaves its rooms
   * and user at once (presence does not wait for the peer), and the peer has the close grace to end.
   */
  private Behavior<Command> closeWith(int code, String reason) {
    outbox.close(code, reason);
    if (phase == Phase.CLOSING) {
      return this;
    }
    phase = Phase.CLOSING;
    for (String room : rooms.keySet()) {
      if (!room.equals(ownRoom)) { // that one watches its members, if it runs at all
        roomRef(room).tell(new Room.Leave(ctx.getSelf(), null, true));
      }
    }
    rooms.clear();
    // and, being CLOSING, no re-registration if the user entity moves: it may passivate now
    userRef().tell(new User.Unregister(ctx.getSelf()));
    // A peer that takes not even the close frame (its TCP window is shut) is dropped after the grace.
    startTimer(node.settings().closeGrace(), Tick.CLOSE_TIMEOUT);
    return this;
  }

  private void onStop() {
    if (admitted != null && !admitted.isDone()) {
      admitted.complete(false);
    }
    if (timer != null) {
      timer.cancel();
    }
    node.sockets().unregister(ctx.getSelf());
    node.sockets().releaseIp(ip);
    outbox.complete();
  }

  // --- frames from the client ---

  /**
   * A client frame. The ack goes once the frame is handled and its own answers are queued: a ping
   * the transport answers itself while no frame is with the actor can then never overtake them.
   */
  private Behavior<Command> onInbound(Inbound inbound) {
    try {
      if (phase != Phase.OPEN) {
        return this;
      }
      node.metrics().frameIn();
      if (inbound.incoming() instanceof Text t) {
        return onText(t.text());
      }
      return closeWith(CloseCodes.BINARY, "binary frames are not accepted");
    } finally {
      inbound.ack().run();
    }
  }

  private Behavior<Command> onText(String text) {
    switch (gate.admit(System.nanoTime())) {
      case CLOSE -> {
        return closeWith(CloseCodes.RATE_LIMITED, "rate limited");
      }
      case LIMITED -> {
        return reply(gate.limited(ClientFrame.peekId(node.json(), text)));
      }
      default -> {
        // read it
      }
    }
    ClientFrame frame;
    try {
      frame = ClientFrame.parse(node.json(), text);
    } catch (ClientFrame.Invalid e) {
      return reply(ServerFrames.error(e.id, e.code, e.getMessage()));
    }
    if (frame instanceof ClientFrame.Ping) {
      return reply(ServerFrames.pong(frame.id()));
    } else if (frame instanceof ClientFrame.Join j) {
      return onJoin(j);
    } else if (frame instanceof ClientFrame.Leave l) {
      return onLeave(l);
    } else if (frame instanceof ClientFrame.Publish p) {
      return onPublish(p);
    }
    return onPresence((ClientFrame.PresenceQuery) frame);
  }

  private Behavior<Command> onJoin(ClientFrame.Join join) {
    RoomName room = RoomName.parse(join.room());
    if (room == null) {
      return badRoom(join.id(), join.room());
    }
    RoomGrant grant = null;
    if (room.kind() == RoomName.Kind.LIVE) {
      if (join.token() == null) {
        return reply(ServerFrames.error(join.id(), ErrorCodes.FORBIDDEN, "a live room is joined with a room token"));
      }
      try {
        grant = node.verifier().verifyRoomToken(join.token());
      } catch (TokenException e) {
        return reply(ServerFrames.error(join.id(), ErrorCodes.FORBIDDEN, "room token refused: " + e.getMessage()));
      }
    }
    Membership membership = RoomAccess.join(identity, room, grant);
    if (membership == null) {
      return reply(ServerFrames.error(join.id(), ErrorCodes.FORBIDDEN, "may not join " + room));
    }
    boolean own = room.value().equals(ownRoom);
    // A join of a room this socket has joined already goes to the room marked "again": the room
    // answers bad_request when the socket is its member (a second joined frame with everything missed
    // was issue 12's memory attack) and serves it in full when the first join never arrived. The own
    // room may be joined explicitly once, for recovery.
    boolean again = rooms.containsKey(room.value()) && (!own || ownRoomJoined);
    if (!again && !rooms.containsKey(room.value()) && rooms.size() >= node.settings().maxRoomsPerConnection()) {
      return reply(ServerFrames.error(join.id(), ErrorCodes.BAD_REQUEST,
          "at most " + node.settings().maxRoomsPerConnection() + " rooms per connection"));
    }
    if (!again) {
      rooms.put(room.value(), membership);
    }
    if (own && !again) {
      ownRoomJoined = true;
      userRef().tell(new User.OwnRoom(ctx.getSelf(), true));
    }
    // A removal bars credentials issued before it (for a live room that is the room token).
    roomRef(room.value()).tell(new Room.Join(ctx.getSelf(), node.hubs().forRoom(room.value()), join.id(), identity.userId(),
        identity.name(), membership.role(), membership.canSeePresence(), membership.issuedAt(), join.since(), again));
    return this;
  }

  private Behavior<Command> onLeave(ClientFrame.Leave leave) {
    if (RoomName.parse(leave.room()) == null) {
      return badRoom(leave.id(), leave.room());
    }
    if (rooms.remove(leave.room()) == null) {
      // not joined: answered here, without starting the room's entity (issue 12: a flood of leaves
      // with random names used to start one entity each)
      return reply(ServerFrames.left(leave.id(), leave.room(), null));
    }
    if (leave.room().equals(ownRoom)) {
      ownRoomJoined = false;
      userRef().tell(new User.OwnRoom(ctx.getSelf(), false));
    }
    roomRef(leave.room()).tell(new Room.Leave(ctx.getSelf(), leave.id(), false));
    return this;
  }

  private Behavior<Command> onPublish(ClientFrame.Publish publish) {
    Membership m = rooms.get(publish.room());
    if (m == null) {
      RoomName room = RoomName.parse(publish.room());
      if (room == null) {
        return badRoom(publish.id(), publish.room());
      }
      // a room this token could never join (another user's, a course it does not hold) is forbidden;
      // one it could join (a live room needs its room token) is just not joined yet
      return room.kind() != RoomName.Kind.LIVE && RoomAccess.join(identity, room, null) == null
          ? reply(ServerFrames.error(publish.id(), ErrorCodes.FORBIDDEN, "may not publish to " + room))
          : reply(ServerFrames.error(publish.id(), ErrorCodes.NOT_JOINED, "not joined to " + room));
    }
    if (!m.canPublish()) {
      return reply(ServerFrames.error(publish.id(), ErrorCodes.FORBIDDEN, "may not publish to " + publish.room()));
    }
    roomRef(publish.room()).tell(new Room.SocketPublish(publish.event(), publish.data(), identity.userId(),
        ctx.getSelf(), publish.id()));
    return this;
  }

  private Behavior<Command> onPresence(ClientFrame.PresenceQuery query) {
    RoomName room = RoomName.parse(query.room());
    if (room == null) {
      return badRoom(query.id(), query.room());
    }
    if (!RoomAccess.canQueryPresence(identity, room, rooms.get(room.value()))) {
      return reply(ServerFrames.error(query.id(), ErrorCodes.FORBIDDEN, "may not see presence of " + room));
    }
    // The room decides for good: it knows whether the join went through, and its removals.
    Membership m = rooms.get(room.value());
    Long issuedAt = m != null ? m.issuedAt() : identity.issuedAt();
    roomRef(room.value()).tell(new Room.QueryPresence(ctx.getSelf(), query.id(), identity.userId(), issuedAt,
        RoomAccess.canQueryPresence(identity, room, null)));
    return this;
  }

  private Behavior<Command> badRoom(String id, String room) {
    return reply(ServerFrames.error(id, ErrorCodes.BAD_REQUEST, "not a room name: " + room));
  }

  private Behavior<Command> reply(String frame) {
    outbox.sendText(frame);
    return this;
  }

  private EntityRef<Room.Command> roomRef(String room) {
    return node.sharding().entityRefFor(Room.KEY, room);
  }

  private EntityRef<User.Command> userRef() {
    return node.sharding().entityRefFor(User.KEY, identity.userId());
  }
}

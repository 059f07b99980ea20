package lms.realtime.session;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import lms.realtime.CborSerializable;
import lms.realtime.NodeContext;
import lms.realtime.auth.Identity;
import lms.realtime.auth.Membership;
import lms.realtime.auth.RoomAccess;
import lms.realtime.auth.RoomGrant;
import lms.realtime.auth.TokenException;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.fanout.Hub;
import lms.realtime.room.Room;
import lms.realtime.room.RoomName;
import lms.realtime.user.User;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * One socket: its user, joined rooms and what it may do in each, rate bucket, heartbeat and token
 * deadlines. It registers with its user entity before the upgrade (the per-user limit), then turns
 * client frames into room commands. Rooms and the user entity watch it, so however it ends, it leaves
 * presence.
 */
public final class Connection extends AbstractBehavior<Connection.Command> {

  public sealed interface Command extends CborSerializable {}

  /** A frame for this socket from an entity that is not a room it joined (a notification, a reply). */
  public record Deliver(String frame) implements Command {}

  public record JoinRefused(String room, String errorFrame) implements Command {}

  /** The room dropped this socket (the backend removed its user); the hub has sent the {@code left}. */
  public record RoomLeft(String room) implements Command {}

  /** Close the socket with this code (node shutdown, operator action). */
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

  private record AdmissionAnswer(User.Admission admission, Throwable failure) implements Command {}

  /** The user entity this socket is registered with stopped (moved to another node, or its node died). */
  private record UserEntityGone(ActorRef<User.Command> entity) implements Command {}

  private enum Tick implements Command {
    HEARTBEAT,
    TOKEN_EXPIRED,
    ATTACH_TIMEOUT,
    CLOSE_TIMEOUT,
    OUTBOX_CLOSED
  }

  private enum Phase {
    ADMITTING,
    ATTACHING,
    OPEN,
    CLOSING
  }

  /** How long an admitted socket may take to be upgraded and attached. */
  private static final Duration ATTACH_TIMEOUT = Duration.ofSeconds(10);

  static Behavior<Command> create(
      NodeContext node, Identity identity, String connectionId, Outbox outbox, String ip, CompletableFuture<Boolean> admitted) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Connection(ctx, timers, node, identity, connectionId, outbox, ip, admitted)));
  }

  private final TimerScheduler<Command> timers;
  private final NodeContext node;
  private final Identity identity;
  private final String connectionId;
  private final Outbox outbox;
  private final String ip;
  private final CompletableFuture<Boolean> admitted;
  private final Map<String, Membership> rooms = new LinkedHashMap<>();
  private final TokenBucket bucket;
  private final long heartbeatNanos;
  private Phase phase = Phase.ADMITTING;
  private long lastInboundNanos;
  private final List<String> beforeWelcome = new ArrayList<>(0);
  private int rateStrikes;

  private Connection(
      ActorContext<Command> ctx,
      TimerScheduler<Command> timers,
      NodeContext node,
      Identity identity,
      String connectionId,
      Outbox outbox,
      String ip,
      CompletableFuture<Boolean> admitted) {
    super(ctx);
    this.timers = timers;
    this.node = node;
    this.identity = identity;
    this.connectionId = connectionId;
    this.outbox = outbox;
    this.ip = ip;
    this.admitted = admitted;
    this.bucket = new TokenBucket(node.settings().ratePerSecond(), node.settings().rateBurst(), System.nanoTime());
    this.heartbeatNanos = Duration.ofSeconds(node.settings().heartbeatSeconds()).toNanos();
    ActorRef<Command> self = ctx.getSelf();
    node.sockets().register(self, outbox);
    outbox.onOverflow(() -> self.tell(Tick.OUTBOX_CLOSED));
    register(node.settings().maxConnectionsPerUser());
  }

  private void register(int limit) {
    ActorRef<Command> self = getContext().getSelf();
    getContext().ask(
        User.Admission.class,
        userRef(),
        node.settings().askTimeout(),
        replyTo -> new User.Register(self, limit, replyTo),
        AdmissionAnswer::new);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(AdmissionAnswer.class, this::onAdmission)
        .onMessage(UserEntityGone.class, this::onUserEntityGone)
        .onMessage(SocketOpened.class, this::onSocketOpened)
        .onMessage(Inbound.class, this::onInbound)
        .onMessage(Deliver.class, this::onDeliver)
        .onMessage(JoinRefused.class, this::onJoinRefused)
        .onMessage(RoomLeft.class, l -> {
          rooms.remove(l.room());
          return this;
        })
        .onMessage(Close.class, c -> closeWith(c.code(), c.reason()))
        .onMessageEquals(Tick.HEARTBEAT, this::onHeartbeatDeadline)
        .onMessageEquals(FrameTooLarge.INSTANCE, () -> closeWith(CloseCodes.TOO_LARGE, tooLargeReason()))
        .onMessageEquals(Tick.TOKEN_EXPIRED, this::onTokenTimer)
        .onMessageEquals(Tick.OUTBOX_CLOSED, () -> closeWith(outbox.closeCode(), "closed"))
        .onMessageEquals(Tick.ATTACH_TIMEOUT, Behaviors::stopped)
        .onMessageEquals(Tick.CLOSE_TIMEOUT, () -> {
          outbox.abort();
          return Behaviors.stopped();
        })
        .onMessageEquals(SocketClosed.INSTANCE, Behaviors::stopped)
        .onSignal(PostStop.class, s -> onStop())
        .build();
  }

  /**
   * A notification can come from the user entity before its answer to our registration (that
   * answer travels through the ask's own actor): it waits until {@code welcome} has gone first.
   */
  private Behavior<Command> onDeliver(Deliver d) {
    if (phase == Phase.ADMITTING) {
      if (beforeWelcome.size() < node.settings().outgoingBuffer()) {
        beforeWelcome.add(d.frame());
      }
      return this;
    }
    outbox.sendText(d.frame());
    return this;
  }

  // --- lifecycle ---

  private Behavior<Command> onAdmission(AdmissionAnswer answer) {
    if (phase != Phase.ADMITTING) {
      // a re-registration after the user entity moved: only the watch needs renewing
      if (answer.admission() != null && phase != Phase.CLOSING) {
        getContext().watchWith(answer.admission().entity(), new UserEntityGone(answer.admission().entity()));
      } else if (answer.failure() != null && phase != Phase.CLOSING) {
        register(Integer.MAX_VALUE);
      }
      return this;
    }
    if (answer.failure() != null) {
      admitted.completeExceptionally(answer.failure());
      return Behaviors.stopped();
    }
    if (!answer.admission().admitted()) {
      admitted.complete(false);
      return Behaviors.stopped();
    }
    phase = Phase.ATTACHING;
    getContext().watchWith(answer.admission().entity(), new UserEntityGone(answer.admission().entity()));
    // Queued now, so nothing an entity sends once we are registered can go out before it.
    outbox.sendText(ServerFrames.welcome(connectionId, identity.userId(), node.settings().heartbeatSeconds()));
    for (String frame : beforeWelcome) {
      outbox.sendText(frame);
    }
    beforeWelcome.clear();
    timers.startSingleTimer(Tick.ATTACH_TIMEOUT, ATTACH_TIMEOUT);
    admitted.complete(true);
    return this;
  }

  /**
   * The user entity holds this socket's slot and routes its notifications; when it moves or dies,
   * register again with its next incarnation (past the limit: this socket is already admitted).
   */
  private Behavior<Command> onUserEntityGone(UserEntityGone gone) {
    if (phase != Phase.CLOSING) {
      register(Integer.MAX_VALUE);
    }
    return this;
  }

  private Behavior<Command> onSocketOpened(SocketOpened started) {
    timers.cancel(Tick.ATTACH_TIMEOUT);
    started.ack().run();
    if (phase != Phase.ATTACHING) {
      return this;
    }
    phase = Phase.OPEN;
    autoJoinOwnRoom();
    lastInboundNanos = System.nanoTime();
    timers.startSingleTimer(Tick.HEARTBEAT, Duration.ofNanos(2 * heartbeatNanos));
    scheduleTokenExpiry();
    return this;
  }

  /** The scheduler takes delays up to about 248 days; a longer-lived token is checked again daily. */
  private static final long MAX_TIMER_MILLIS = Duration.ofDays(1).toMillis();

  private void scheduleTokenExpiry() {
    long expiresInMillis = (identity.expiresAt() + node.settings().clockSkewSeconds()) * 1000 - System.currentTimeMillis();
    timers.startSingleTimer(Tick.TOKEN_EXPIRED, Duration.ofMillis(Math.max(0, Math.min(expiresInMillis, MAX_TIMER_MILLIS))));
  }

  private Behavior<Command> onTokenTimer() {
    long expiresAt = (identity.expiresAt() + node.settings().clockSkewSeconds()) * 1000;
    if (System.currentTimeMillis() < expiresAt) {
      scheduleTokenExpiry();
      return this;
    }
    return closeWith(CloseCodes.TOKEN_EXPIRED, "token expired");
  }

  private void autoJoinOwnRoom() {
    RoomName own = RoomName.user(identity.userId());
    Membership m = RoomAccess.join(identity, own, null);
    rooms.put(own.value(), m);
    roomRef(own.value()).tell(joinCommand(own.value(), null, m, null, true, identity.issuedAt()));
  }

  private Behavior<Command> onHeartbeatDeadline() {
    if (phase != Phase.OPEN) {
      return this;
    }
    long idle = System.nanoTime() - lastInboundNanos;
    if (idle >= 2 * heartbeatNanos) {
      return closeWith(CloseCodes.HEARTBEAT_MISSED, "heartbeat missed");
    }
    timers.startSingleTimer(Tick.HEARTBEAT, Duration.ofNanos(2 * heartbeatNanos - idle));
    return this;
  }

  /**
   * Starts the close: the close frame goes out ahead of anything queued, the socket leaves its rooms
   * and user at once (presence does not wait for the peer), and the stream gets a few seconds to end.
   */
  private Behavior<Command> closeWith(int code, String reason) {
    outbox.close(code, reason);
    if (phase == Phase.CLOSING) {
      return this;
    }
    phase = Phase.CLOSING;
    for (String room : rooms.keySet()) {
      roomRef(room).tell(new Room.Leave(getContext().getSelf(), null, true));
    }
    rooms.clear();
    // and, being CLOSING, no re-registration if the user entity moves: it may passivate now
    userRef().tell(new User.Unregister(getContext().getSelf()));
    timers.cancel(Tick.HEARTBEAT);
    timers.cancel(Tick.TOKEN_EXPIRED);
    // A peer that takes not even the close frame (its TCP window is shut) is dropped after the grace.
    timers.startSingleTimer(Tick.CLOSE_TIMEOUT, node.settings().closeGrace());
    return this;
  }

  private Behavior<Command> onStop() {
    if (!admitted.isDone()) {
      admitted.complete(false);
    }
    node.sockets().unregister(getContext().getSelf());
    node.sockets().releaseIp(ip);
    outbox.complete();
    return this;
  }

  // --- frames from the client ---

  private Behavior<Command> onInbound(Inbound inbound) {
    inbound.ack().run();
    if (phase != Phase.OPEN) {
      return this;
    }
    node.metrics().frameIn();
    Incoming incoming = inbound.incoming();
    if (incoming instanceof Text t) {
      return onText(t.text());
    }
    return closeWith(CloseCodes.BINARY, "binary frames are not accepted");
  }

  private String ratePerSecondText() {
    double rate = node.settings().ratePerSecond();
    return rate == Math.rint(rate) ? Long.toString((long) rate) : Double.toString(rate);
  }

  private String tooLargeReason() {
    return "frame larger than " + node.settings().maxFrameBytes() + " bytes";
  }

  private Behavior<Command> onText(String text) {
    long now = System.nanoTime();
    lastInboundNanos = now;
    if (!bucket.tryTake(now)) {
      if (++rateStrikes > node.settings().rateStrikesBeforeClose()) {
        return closeWith(CloseCodes.RATE_LIMITED, "rate limited");
      }
      outbox.sendText(ServerFrames.error(null, ErrorCodes.RATE_LIMITED,
          "more than " + ratePerSecondText() + " frames per second"));
      return this;
    }
    rateStrikes = 0;
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
    if (!rooms.containsKey(room.value()) && rooms.size() >= node.settings().maxRoomsPerConnection()) {
      return reply(ServerFrames.error(join.id(), ErrorCodes.BAD_REQUEST,
          "at most " + node.settings().maxRoomsPerConnection() + " rooms per connection"));
    }
    rooms.put(room.value(), membership);
    // A removal bars credentials issued before it: for a live room that is the room token.
    Long issuedAt = grant != null ? grant.issuedAt() : identity.issuedAt();
    roomRef(room.value()).tell(joinCommand(room.value(), join.id(), membership, join.since(), false, issuedAt));
    return this;
  }

  private Room.Join joinCommand(
      String room, String requestId, Membership m, ClientFrame.Position since, boolean automatic, Long issuedAt) {
    return new Room.Join(getContext().getSelf(), node.hubs().forRoom(room), requestId, identity.userId(),
        identity.name(), m.role(), m.canSeePresence(), issuedAt, since, automatic);
  }

  private Behavior<Command> onJoinRefused(JoinRefused refused) {
    rooms.remove(refused.room());
    outbox.sendText(refused.errorFrame());
    return this;
  }

  private Behavior<Command> onLeave(ClientFrame.Leave leave) {
    if (RoomName.parse(leave.room()) == null) {
      return badRoom(leave.id(), leave.room());
    }
    rooms.remove(leave.room());
    roomRef(leave.room()).tell(new Room.Leave(getContext().getSelf(), leave.id(), false));
    return this;
  }

  private Behavior<Command> onPublish(ClientFrame.Publish publish) {
    Membership m = rooms.get(publish.room());
    if (m == null) {
      return RoomName.parse(publish.room()) == null
          ? badRoom(publish.id(), publish.room())
          : reply(ServerFrames.error(publish.id(), ErrorCodes.NOT_JOINED, "not joined to " + publish.room()));
    }
    if (!m.canPublish()) {
      return reply(ServerFrames.error(publish.id(), ErrorCodes.FORBIDDEN, "may not publish to " + publish.room()));
    }
    roomRef(publish.room()).tell(new Room.Publish(publish.event(), publish.data(), identity.userId(), null,
        getContext().getSelf(), publish.id(), null));
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
    roomRef(room.value()).tell(new Room.QueryPresence(getContext().getSelf(), query.id()));
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

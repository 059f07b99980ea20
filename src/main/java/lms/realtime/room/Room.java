package lms.realtime.room;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import lms.realtime.fanout.Hub;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CborSerializable;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.session.Connection;
import lms.realtime.session.NodeContext;
import lms.realtime.user.User;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * One room (Cluster Sharding entity keyed by room name): the single writer of its members, presence,
 * numbering, epoch and recent history, so these can never disagree. Events and everything ordered
 * with them go to its members through their nodes' hubs, once per node per event; answers meant for
 * one socket alone (a refused join or publish, a presence reply) go to that socket directly, so they
 * are not ordered with the room's stream (docs/protocol.md §13). Handed to another node, it takes its
 * epoch, history, removals and the list of its hubs along (see {@link RoomSnapshots}); the hubs bring
 * the members back.
 */
public final class Room extends AbstractBehavior<Room.Command> {
  public static final EntityTypeKey<Command> KEY = EntityTypeKey.create(Command.class, "Room");

  public sealed interface Command extends CborSerializable {}

  public record Join(
      ActorRef<Connection.Command> connection,
      ActorRef<Hub.Command> hub,
      String requestId,
      String userId,
      String name,
      String role,
      boolean seesPresence,
      Long tokenIssuedAt,
      ClientFrame.Position since,
      boolean again)
      implements Command {}

  /** A socket leaves; {@code silent} when the socket is closing and wants no {@code left}. */
  public record Leave(ActorRef<Connection.Command> connection, String requestId, boolean silent) implements Command {}

  /**
   * An event from the backend to number and fan out: {@code replyTo} gets the position; a repeated
   * {@code idempotencyId} (may be null) within the history window is not published again.
   */
  public record Publish(String event, String data, String from, String idempotencyId, ActorRef<Published> replyTo)
      implements Command {}

  /** An event from a member socket: the socket gets the {@code ack} for {@code requestId}. */
  public record SocketPublish(String event, String data, String from, ActorRef<Connection.Command> connection, String requestId)
      implements Command {}

  public record Published(String room, long seq, String epoch) implements CborSerializable {}

  public record GetPresence(ActorRef<PresenceList> replyTo) implements Command {}

  /**
   * A socket's {@code presence} request, answered straight to it. The room decides: a member that
   * sees presence, or a socket whose identity alone allows it ({@code byIdentity}: admins, a course's
   * instructors), and never one whose credential ({@code tokenIssuedAt}) a removal bars.
   */
  public record QueryPresence(
      ActorRef<Connection.Command> connection, String requestId, String userId, Long tokenIssuedAt, boolean byIdentity)
      implements Command {}

  public record PresenceList(String room, List<PresenceUser> users) implements CborSerializable {}

  public record PresenceUser(String userId, String name, String role, int connections) implements CborSerializable {}

  /** The backend removes a user: their sockets leave at once, older tokens cannot come back. */
  public record RemoveUser(String userId, ActorRef<Removed> replyTo) implements Command {}

  public record Removed(int removed) implements CborSerializable {}

  /**
   * A hub brings its members back after this room's previous incarnation stopped; {@code epoch} and
   * {@code seq} are the last position it delivered to them.
   */
  public record Rejoin(ActorRef<Hub.Command> hub, List<Hub.MemberInfo> members, String epoch, long seq, boolean last)
      implements Command {}

  /** A hub found a gap in this room's events after {@code seq}: it gets what it missed, from the history. */
  public record Recover(ActorRef<Hub.Command> hub, String epoch, long seq) implements Command {}

  /** One of a user's sockets, as the user entity hands it to the user's own room. */
  public record OwnRoomSocket(Hub.MemberInfo member, ActorRef<Hub.Command> hub, Long tokenIssuedAt) implements CborSerializable {}

  /**
   * From the user entity, to a {@code user:} room: sockets to take as members, silently (every socket
   * is in its own room from the start, whether that room runs or not).
   */
  public record OwnRoomSockets(ActorRef<User.Command> user, List<OwnRoomSocket> sockets) implements Command {}

  private record MemberGone(ActorRef<Connection.Command> connection) implements Command {}

  /** The user entity this {@code user:} room is attached to stopped (moved, or its node died). */
  private record UserEntityGone(ActorRef<User.Command> user) implements Command {}

  private enum IdleCheck implements Command {
    INSTANCE
  }

  /** The end of the first moments in which requests of unknown sockets are held (see {@link HeldForMembers}). */
  private enum ReleaseHeld implements Command {
    INSTANCE
  }

  private enum OwnerTimeout implements Command {
    INSTANCE
  }

  /** Sent by the shard to stop this room: passivation, hand-off to another node, shutdown. */
  private enum Stop implements Command {
    INSTANCE
  }

  private record SnapshotRead(Replicator.GetResponse<LWWMap<String, RoomSnapshots.Snapshot>> response) implements Command {}

  private record SnapshotWritten(Replicator.UpdateResponse<LWWMap<String, RoomSnapshots.Snapshot>> response) implements Command {}

  private record Member(Hub.MemberInfo info, ActorRef<Hub.Command> hub) {}

  public static void init(NodeContext node) {
    ClusterSharding.get(node.system())
        .init(Entity.of(KEY, ctx -> create(ctx.getEntityId(), ctx.getShard(), node)).withStopMessage(Stop.INSTANCE));
  }

  /** First takes back a snapshot its previous incarnation may have left, then serves. */
  static Behavior<Command> create(String name, ActorRef<ClusterSharding.ShardCommand> shard, NodeContext node) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> Behaviors.withStash(node.settings().roomStartingStash(), stash ->
        DistributedData.<Command, LWWMap<String, RoomSnapshots.Snapshot>>withReplicatorMessageAdapter(replicator -> {
          // Local first (most rooms were never handed off); then a majority, which overlaps the
          // majority the previous incarnation wrote to.
          replicator.askGet(
              replyTo -> new Replicator.Get<>(RoomSnapshots.keyFor(name), Replicator.readLocal(), replyTo),
              SnapshotRead::new);
          boolean[] askedMajority = {false};
          return Behaviors.receive(Command.class)
              .onMessage(SnapshotRead.class, read -> {
                RoomSnapshots.Snapshot snapshot = null;
                RoomSnapshots.Snapshot removals = null;
                if (read.response() instanceof Replicator.GetSuccess<LWWMap<String, RoomSnapshots.Snapshot>> ok) {
                  var entries = ok.get(RoomSnapshots.keyFor(name)).getEntries();
                  snapshot = entries.get(name);
                  removals = entries.get(RoomSnapshots.removalsEntry(name));
                }
                if (snapshot == null && removals == null && !askedMajority[0] && clusterSize(ctx) > 1) {
                  askedMajority[0] = true;
                  replicator.askGet(
                      replyTo -> new Replicator.Get<>(RoomSnapshots.keyFor(name), new Replicator.ReadMajority(node.settings().internals().snapshotReadTimeout()), replyTo),
                      SnapshotRead::new);
                  return Behaviors.same();
                }
                if (snapshot != null) {
                  ctx.getLog().info("room {} taken over at {}/{}", name, snapshot.epoch(), snapshot.seq());
                }
                Room room = new Room(ctx, timers, replicator, name, shard, node, snapshot, removals);
                return room.ownerId == null ? stash.unstashAll(room) : room.awaitingOwner(stash);
              })
              .onAnyMessage(m -> {
                stashOrDrop(ctx, stash, m, name, node);
                return Behaviors.same();
              })
              .build();
        }))));
  }

  /**
   * A {@code user:} room serves only once its user entity has handed it the user's sockets: they
   * are members from the start (a device publishes into its own room without joining it). What
   * comes meanwhile waits; if the user entity does not answer in time the room serves anyway.
   */
  private Behavior<Command> awaitingOwner(StashBuffer<Command> stash) {
    timers.startSingleTimer(OwnerTimeout.INSTANCE, node.settings().internals().snapshotReadTimeout());
    return Behaviors.receive(Command.class)
        .onMessage(OwnRoomSockets.class, sockets -> {
          timers.cancel(OwnerTimeout.INSTANCE);
          onOwnRoomSockets(sockets);
          return stash.unstashAll(this);
        })
        .onMessageEquals(OwnerTimeout.INSTANCE, () -> stash.unstashAll(this))
        .onAnyMessage(m -> {
          stashOrDrop(getContext(), stash, m, name, node);
          return Behaviors.same();
        })
        .build();
  }

  /** Holds a message of a starting room; past the bound it is dropped, logged and counted. */
  private static void stashOrDrop(ActorContext<Command> ctx, StashBuffer<Command> stash, Command m, String name, NodeContext node) {
    if (!stash.isFull()) {
      stash.stash(m);
      return;
    }
    long dropped = node.metrics().stashDropped();
    if (dropped == 1 || dropped % 10_000 == 0) {
      ctx.getLog().warn("room {} is starting and holds {} messages already: dropped a {} ({} dropped on this node so far)",
          name, stash.size(), m.getClass().getSimpleName(), dropped);
    }
  }

  private static int clusterSize(ActorContext<?> ctx) {
    int up = 0;
    for (org.apache.pekko.cluster.Member m : Cluster.get(ctx.getSystem()).state().getMembers()) {
      if (m.status() == MemberStatus.up()) {
        up++;
      }
    }
    return up;
  }

  private final TimerScheduler<Command> timers;
  private final ReplicatorMessageAdapter<Command, LWWMap<String, RoomSnapshots.Snapshot>> replicator;
  private final SelfUniqueAddress selfAddress;
  private final String name;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final NodeContext node;
  private final String epoch;
  private final History history;
  private long seq;
  private final Map<ActorRef<Connection.Command>, Member> members = new HashMap<>();
  private final RoomPresence presence = new RoomPresence();
  private final Map<ActorRef<Hub.Command>, Integer> hubs = new HashMap<>();
  private final Removals removals;
  /** For a {@code user:} room: the user entity that hands it the user's sockets (null until it answers). */
  private final String ownerId;
  private ActorRef<User.Command> owner;
  private boolean passivating;
  private final HeldForMembers heldForMembers;

  private Room(
      ActorContext<Command> ctx,
      TimerScheduler<Command> timers,
      ReplicatorMessageAdapter<Command, LWWMap<String, RoomSnapshots.Snapshot>> replicator,
      String name,
      ActorRef<ClusterSharding.ShardCommand> shard,
      NodeContext node,
      RoomSnapshots.Snapshot snapshot,
      RoomSnapshots.Snapshot durableRemovals) {
    super(ctx);
    this.timers = timers;
    this.replicator = replicator;
    this.selfAddress = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
    this.name = name;
    this.shard = shard;
    this.node = node;
    this.removals = new Removals(node.settings().removalRetention().getSeconds());
    this.heldForMembers = new HeldForMembers(System.currentTimeMillis(),
        node.settings().internals().rejoinGrace().toMillis(), node.settings().internals().rejoinHeldMax());
    this.history = new History(node.settings().historySize(), node.settings().historyTtl().toMillis(), node.settings().historyMaxBytes());
    if (snapshot != null) {
      this.epoch = snapshot.epoch();
      this.seq = snapshot.seq();
      this.history.restore(snapshot.history(), System.currentTimeMillis());
      this.removals.merge(snapshot.removedAt());
      if (snapshot.hubs() != null) {
        snapshot.hubs().forEach(hub -> hub.tell(new Hub.RoomMoved(name, ctx.getSelf())));
      }
      // Taken: a later crash must not bring this history back with a hole after it.
      replicator.askUpdate(
          replyTo -> new Replicator.Update<>(RoomSnapshots.keyFor(name), RoomSnapshots.empty(),
              new Replicator.WriteMajority(node.settings().internals().snapshotWriteTimeout()), replyTo, map -> map.remove(selfAddress, name)),
          SnapshotWritten::new);
    } else {
      this.epoch = UUID.randomUUID().toString().substring(0, 13);
    }
    if (durableRemovals != null) {
      // what the room's removals were when the last one was made: they outlive a crash of its node
      this.removals.merge(durableRemovals.removedAt());
    }
    node.metrics().roomStarted();
    RoomName parsed = RoomName.parse(name);
    this.ownerId = parsed != null && parsed.kind() == RoomName.Kind.USER ? parsed.key() : null;
    attachToOwner();
    // A room started by a message that leaves nothing behind (a stray leave, a presence query)
    // goes again soon; one with history waits for it to expire (see onIdleCheck).
    Duration emptyGrace = node.settings().internals().emptyRoomGrace();
    scheduleIdleCheck(emptyGrace.compareTo(node.settings().historyTtl()) < 0 ? emptyGrace : node.settings().historyTtl());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Stop.INSTANCE, this::onStop)
        .onMessage(SnapshotWritten.class, w -> this)
        .onMessage(Command.class, c -> passivating && !(c instanceof MemberGone || c instanceof IdleCheck || c instanceof UserEntityGone),
            this::forwardToNextIncarnation)
        .onMessage(Join.class, this::onJoin)
        .onMessage(Rejoin.class, this::onRejoin)
        .onMessage(Recover.class, this::onRecover)
        .onMessage(Leave.class, this::onLeave)
        .onMessage(Publish.class, this::onPublish)
        .onMessage(SocketPublish.class, this::onSocketPublish)
        .onMessage(GetPresence.class, this::onGetPresence)
        .onMessage(QueryPresence.class, this::onQueryPresence)
        .onMessage(RemoveUser.class, this::onRemoveUser)
        .onMessage(MemberGone.class, this::onMemberGone)
        .onMessage(OwnRoomSockets.class, this::onOwnRoomSockets)
        .onMessage(UserEntityGone.class, this::onUserEntityGone)
        .onMessageEquals(IdleCheck.INSTANCE, this::onIdleCheck)
        .onMessageEquals(ReleaseHeld.INSTANCE, this::releaseHeld)
        .onMessageEquals(OwnerTimeout.INSTANCE, () -> this)
        .onSignal(PostStop.class, s -> {
          node.metrics().roomStopped();
          return this;
        })
        .build();
  }

  /**
   * Between asking to passivate and the stop, whatever arrives goes back through the shard, which
   * buffers it for the room's next incarnation: nothing is handled by a room about to vanish.
   */
  private Behavior<Command> forwardToNextIncarnation(Command command) {
    ClusterSharding.get(getContext().getSystem()).entityRefFor(KEY, name).tell(command);
    return this;
  }

  /**
   * Stopped by the shard. A room that still has something to hand on (members, history, removals)
   * is being moved: it writes a snapshot to a majority of nodes first, then stops.
   */
  private Behavior<Command> onStop() {
    long now = System.currentTimeMillis();
    if (members.isEmpty() && history.isEmpty(now) && removals.isEmpty()) {
      return Behaviors.stopped();
    }
    RoomSnapshots.Snapshot snapshot = new RoomSnapshots.Snapshot(epoch, seq,
        history.newest(now, node.settings().internals().snapshotMaxHistoryBytes()), removals.asMap(), List.copyOf(hubs.keySet()));
    replicator.askUpdate(
        replyTo -> new Replicator.Update<>(RoomSnapshots.keyFor(name), RoomSnapshots.empty(),
            new Replicator.WriteMajority(node.settings().internals().snapshotWriteTimeout()), replyTo, map -> map.put(selfAddress, name, snapshot)),
        SnapshotWritten::new);
    return Behaviors.receive(Command.class)
        .onMessage(SnapshotWritten.class, w -> {
          if (w.response() instanceof Replicator.UpdateSuccess) {
            getContext().getLog().info("room {} handed on at {}/{} with {} events", name, epoch, seq, snapshot.history().size());
          } else {
            getContext().getLog().warn("room {} could not hand on its state ({}): its next incarnation starts a new epoch",
                name, w.response().getClass().getSimpleName());
          }
          return Behaviors.stopped();
        })
        .onSignal(PostStop.class, s -> {
          node.metrics().roomStopped();
          return Behaviors.same();
        })
        .build();
  }

  private Behavior<Command> onJoin(Join join) {
    if (isRemoved(join.userId(), join.tokenIssuedAt())) {
      join.connection().tell(new Connection.JoinRefused(name,
          ServerFrames.error(join.requestId(), ErrorCodes.FORBIDDEN, "removed from " + name + "; a newer token is needed")));
      return this;
    }
    if (join.again() && members.containsKey(join.connection())) {
      // the socket is a member: its events already come, and a second joined frame (with everything
      // missed) would only cost memory (issue 12). Not a member: its first join was lost on the way
      // (a region drops what it buffered when a hand-off starts), so this one is served in full.
      join.connection().tell(new Connection.Deliver(
          ServerFrames.error(join.requestId(), ErrorCodes.BAD_REQUEST, "already joined to " + name)));
      return this;
    }
    Hub.MemberInfo info = new Hub.MemberInfo(join.connection(), join.userId(), join.name(), join.role(), join.seesPresence());
    if (!members.containsKey(join.connection())) {
      addMember(info, join.hub(), true);
    }
    join.hub().tell(new Hub.AddMember(name, getContext().getSelf(), info, joinedFrame(join.requestId(), join.since()), epoch, seq));
    return this;
  }

  /**
   * A {@code user:} room asks its user entity for the user's sockets (and every new one). Not while
   * this node shuts down: the room is about to be handed on itself, and its next incarnation
   * attaches; a message now would only start a user entity in a region that is being stopped.
   */
  private void attachToOwner() {
    if (ownerId != null && !passivating && CoordinatedShutdown.get(getContext().getSystem()).getShutdownReason().isEmpty()) {
      node.sharding().entityRefFor(User.KEY, ownerId).tell(new User.AttachRoom(getContext().getSelf()));
    }
  }

  private Behavior<Command> onOwnRoomSockets(OwnRoomSockets sockets) {
    if (!sockets.user().equals(owner)) {
      if (owner != null) {
        getContext().unwatch(owner);
      }
      owner = sockets.user();
      getContext().watchWith(owner, new UserEntityGone(owner));
    }
    for (OwnRoomSocket socket : sockets.sockets()) {
      Hub.MemberInfo info = socket.member();
      if (!members.containsKey(info.connection()) && !isRemoved(info.userId(), socket.tokenIssuedAt())) {
        addMember(info, socket.hub(), false);
        socket.hub().tell(new Hub.AddMember(name, getContext().getSelf(), info, null, epoch, seq));
      }
    }
    return this;
  }

  /** The user entity moved or died: attach to its next incarnation, which the sockets re-register with. */
  private Behavior<Command> onUserEntityGone(UserEntityGone gone) {
    if (gone.user().equals(owner)) {
      owner = null;
      attachToOwner();
    }
    return this;
  }

  private void addMember(Hub.MemberInfo info, ActorRef<Hub.Command> hub, boolean announce) {
    members.put(info.connection(), new Member(info, hub));
    hubs.merge(hub, 1, Integer::sum);
    getContext().watchWith(info.connection(), new MemberGone(info.connection()));
    String arrived = presence.arrive(info.userId(), info.name(), info.role());
    if (arrived != null && announce) {
      broadcastToWatchers(ServerFrames.presenceDiff(name, List.of(arrived), List.of()));
    }
  }

  /**
   * Members of the previous incarnation, brought back by their hub. They get what they missed, or,
   * when this room's history cannot cover it, a {@code joined} with {@code recovered:false}: reload.
   */
  private Behavior<Command> onRejoin(Rejoin rejoin) {
    for (Hub.MemberInfo info : rejoin.members()) {
      if (!members.containsKey(info.connection())) {
        addMember(info, rejoin.hub(), false);
      }
    }
    if (rejoin.last()) {
      rejoin.hub().tell(new Hub.Rejoined(name, getContext().getSelf(), catchUp(rejoin.epoch(), rejoin.seq()), epoch, seq));
    }
    return releaseHeld();
  }

  /** A request of a socket this room does not know yet, held while re-joins may be on the way. */
  private boolean heldForRejoin(Command request) {
    long now = System.currentTimeMillis();
    boolean first = heldForMembers.isEmpty();
    if (!heldForMembers.hold(request, now)) {
      return false;
    }
    if (first) {
      timers.startSingleTimer(ReleaseHeld.INSTANCE, ReleaseHeld.INSTANCE, Duration.ofMillis(heldForMembers.untilMillis() - now + 1));
    }
    return true;
  }

  /** Handles the held requests again, in order: those still from unknown sockets are held again until the grace ends. */
  private Behavior<Command> releaseHeld() {
    for (Command request : heldForMembers.release()) {
      if (request instanceof SocketPublish publish) {
        onSocketPublish(publish);
      } else if (request instanceof QueryPresence query) {
        onQueryPresence(query);
      }
    }
    return this;
  }

  private Behavior<Command> onRecover(Recover recover) {
    recover.hub().tell(new Hub.Recovered(name, catchUp(recover.epoch(), recover.seq()), epoch, seq));
    return this;
  }

  /**
   * What a hub's members missed since a position: the events from the history, or, when it cannot
   * cover them (another epoch, too old), a {@code joined} with {@code recovered:false}: reload.
   */
  private List<String> catchUp(String sinceEpoch, long sinceSeq) {
    List<String> frames = sinceEpoch != null && sinceEpoch.equals(epoch)
        ? history.since(sinceSeq, seq, System.currentTimeMillis())
        : null;
    return frames != null ? frames : List.of(ServerFrames.joined(null, name, epoch, seq, false, null));
  }

  private String joinedFrame(String requestId, ClientFrame.Position since) {
    if (since == null) {
      return ServerFrames.joined(requestId, name, epoch, seq, null, null);
    }
    List<String> missed = since.epoch().equals(epoch)
        ? history.since(since.seq(), seq, System.currentTimeMillis())
        : null;
    return ServerFrames.joined(requestId, name, epoch, seq, missed != null, missed);
  }

  private boolean isRemoved(String userId, Long tokenIssuedAt) {
    return removals.bars(userId, tokenIssuedAt, nowSeconds());
  }

  private Behavior<Command> onLeave(Leave leave) {
    Member member = removeMember(leave.connection());
    if (member != null) {
      member.hub().tell(new Hub.RemoveMember(name, leave.connection(),
          leave.silent() ? null : ServerFrames.left(leave.requestId(), name, null), false));
    } else if (!leave.silent()) {
      leave.connection().tell(new Connection.Deliver(ServerFrames.left(leave.requestId(), name, null)));
    }
    return this;
  }

  private Behavior<Command> onMemberGone(MemberGone gone) {
    Member member = removeMember(gone.connection());
    if (member != null) {
      member.hub().tell(new Hub.RemoveMember(name, gone.connection(), null, false));
    }
    return this;
  }

  /** Takes a socket out of the room and, on a user's last socket, out of presence. */
  private Member removeMember(ActorRef<Connection.Command> connection) {
    Member member = members.remove(connection);
    if (member == null) {
      return null;
    }
    getContext().unwatch(connection);
    hubs.computeIfPresent(member.hub(), (h, n) -> n == 1 ? null : n - 1);
    String userId = member.info().userId();
    if (presence.leave(userId)) {
      broadcastToWatchers(ServerFrames.presenceDiff(name, List.of(), List.of(userId)));
    }
    if (members.isEmpty()) {
      scheduleIdleCheck(Duration.ofMillis(Math.max(0, history.expiresAt(System.currentTimeMillis()) - System.currentTimeMillis())));
    }
    return member;
  }

  private Behavior<Command> onPublish(Publish publish) {
    long now = System.currentTimeMillis();
    Long first = publish.idempotencyId() == null ? null : history.seqOf(publish.idempotencyId(), now);
    long eventSeq = first != null ? first : numberAndFanOut(publish.event(), publish.data(), publish.from(), publish.idempotencyId(), now);
    publish.replyTo().tell(new Published(name, eventSeq, epoch));
    return this;
  }

  private Behavior<Command> onSocketPublish(SocketPublish publish) {
    Member publisher = members.get(publish.connection());
    if (publisher == null && heldForRejoin(publish)) {
      return this;
    }
    if (publisher == null) {
      publish.connection().tell(new Connection.Deliver(
          ServerFrames.error(publish.requestId(), ErrorCodes.NOT_JOINED, "not joined to " + name)));
      return this;
    }
    long eventSeq = numberAndFanOut(publish.event(), publish.data(), publish.from(), null, System.currentTimeMillis());
    publisher.hub().tell(new Hub.ToMember(name, publish.connection(), ServerFrames.ack(publish.requestId(), eventSeq)));
    return this;
  }

  /** Numbers an event, keeps it in the history and hands it to every hub; returns its seq. */
  private long numberAndFanOut(String event, String data, String from, String idempotencyId, long now) {
    long eventSeq = ++seq;
    String frame = ServerFrames.event(name, eventSeq, epoch, event, data, from, now);
    history.add(new History.Entry(eventSeq, now, frame, idempotencyId), now);
    node.metrics().eventPublished();
    long publishedAt = Metrics.nowMicros();
    for (ActorRef<Hub.Command> hub : hubs.keySet()) {
      hub.tell(new Hub.Broadcast(name, frame, false, publishedAt, epoch, eventSeq));
    }
    if (members.isEmpty()) {
      scheduleIdleCheck(node.settings().historyTtl());
    }
    return eventSeq;
  }

  private Behavior<Command> onGetPresence(GetPresence get) {
    get.replyTo().tell(new PresenceList(name, presence.list()));
    return this;
  }

  private Behavior<Command> onQueryPresence(QueryPresence query) {
    Member member = members.get(query.connection());
    if (member == null && !query.byIdentity() && heldForRejoin(query)) {
      return this;
    }
    boolean allowed = (member != null && member.info().seesPresence()) || query.byIdentity();
    if (!allowed || isRemoved(query.userId(), query.tokenIssuedAt())) {
      query.connection().tell(new Connection.Deliver(
          ServerFrames.error(query.requestId(), ErrorCodes.FORBIDDEN, "may not see presence of " + name)));
      return this;
    }
    List<String> users = presence.json();
    String frame = ServerFrames.presence(query.requestId(), name, users);
    if (Json.utf8Length(frame) > node.settings().outgoingBytes()) {
      // larger than a socket may have queued: it would be closed as a slow reader (4008) for asking
      frame = ServerFrames.error(query.requestId(), ErrorCodes.TOO_LARGE, "the presence of " + users.size()
          + " users is larger than a socket's budget; the backend API has it (GET /api/v1/rooms/{room}/presence)");
    }
    query.connection().tell(new Connection.Deliver(frame));
    return this;
  }

  private Behavior<Command> onRemoveUser(RemoveUser remove) {
    removals.remove(remove.userId(), nowSeconds());
    writeRemovals();
    String leftFrame = ServerFrames.left(null, name, "removed");
    List<ActorRef<Connection.Command>> sockets = new ArrayList<>();
    members.forEach((conn, m) -> {
      if (m.info().userId().equals(remove.userId())) {
        sockets.add(conn);
      }
    });
    for (ActorRef<Connection.Command> conn : sockets) {
      Member member = removeMember(conn);
      member.hub().tell(new Hub.RemoveMember(name, conn, leftFrame, true));
    }
    remove.replyTo().tell(new Removed(sockets.size()));
    return this;
  }

  /**
   * The room's removals, written to a majority of nodes as they change (beside the hand-off
   * snapshot, in an entry of their own that is not taken away on a take-over): a removal is part of
   * what the room keeps, and must outlive a crash of the room's node, not only a hand-off.
   */
  private void writeRemovals() {
    Map<String, Long> now = removals.asMap();
    String entry = RoomSnapshots.removalsEntry(name);
    replicator.askUpdate(
        replyTo -> new Replicator.Update<>(RoomSnapshots.keyFor(name), RoomSnapshots.empty(),
            new Replicator.WriteMajority(node.settings().internals().snapshotWriteTimeout()), replyTo,
            map -> now.isEmpty() ? map.remove(selfAddress, entry) : map.put(selfAddress, entry, RoomSnapshots.removals(now))),
        SnapshotWritten::new);
  }

  private Behavior<Command> onIdleCheck() {
    long now = System.currentTimeMillis();
    if (removals.expire(now / 1000)) {
      writeRemovals();
    }
    if (!members.isEmpty() || passivating) {
      return this;
    }
    if (!history.isEmpty(now)) {
      scheduleIdleCheck(Duration.ofMillis(history.expiresAt(now) - now + 1));
    } else if (!removals.isEmpty()) {
      scheduleIdleCheck(Duration.ofSeconds(removals.secondsToNextExpiry(now / 1000)));
    } else {
      // Nothing left to recover or remember: the epoch goes with the entity, as the contract says.
      passivating = true;
      shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
    }
    return this;
  }

  private void scheduleIdleCheck(Duration after) {
    timers.startSingleTimer(IdleCheck.INSTANCE, IdleCheck.INSTANCE, after.plusMillis(10));
  }

  private void broadcastToWatchers(String frame) {
    long at = Metrics.nowMicros();
    for (ActorRef<Hub.Command> hub : hubs.keySet()) {
      hub.tell(new Hub.Broadcast(name, frame, true, at, epoch, 0));
    }
  }

  private static long nowSeconds() {
    return System.currentTimeMillis() / 1000;
  }
}

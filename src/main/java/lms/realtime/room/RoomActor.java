package lms.realtime.room;

import java.util.List;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.user.User;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The room's actor once it serves ({@link RoomStartup} comes first): it glues its pieces, who is in
 * it ({@link RoomMembers}), its numbered stream ({@link RoomStream}) and what adds to it
 * ({@link RoomWrites}, through a durable room's journal, {@link JournalLink}), who was removed
 * ({@link Removals}), requests held for members a re-join brings ({@link HeldForMembers}), when it
 * goes ({@link RoomLifetime}), its state's hand-off ({@link RoomSnapshots}), and for a {@code user:}
 * room, its user entity ({@link OwnerLink}). Memory and durable rooms are this one actor. Everything
 * it says to a socket goes through the hub the socket named.
 */
final class RoomActor extends AbstractBehavior<RoomInbox> {
  /** Sent by the shard to stop this room: passivation, hand-off to another node, shutdown. */
  static final Room.Command STOP = Stop.INSTANCE;

  enum Stop implements Room.Command { INSTANCE }

  record MemberGone(ActorRef<MemberInbox> socket) implements Room.Command {}

  private final RoomSnapshots snapshots;
  private final RoomStartup.Env env;
  private final String name;
  private final RoomStream stream;
  private final RoomMembers members = new RoomMembers();
  private final JournalLink journal;
  private final RoomWrites writes;
  private final Removals removals;
  private final HeldForMembers heldForMembers;
  /** For a {@code user:} room: the link to the user entity that hands it the user's sockets; else null. */
  private final OwnerLink owner;
  private final RoomLifetime lifetime;

  /**
   * {@code recovered}: what a durable room's journal holds (its epoch, numbering, history and
   * removals); null for a memory room, which takes them from a hand-off snapshot if one was found.
   */
  RoomActor(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, RoomSnapshots snapshots, RoomStartup.Env env,
      RoomSnapshots.Found found, JournalLink journal, JournalLink.Recovered recovered) {
    super(ctx);
    this.snapshots = snapshots;
    this.env = env;
    this.name = env.name();
    this.journal = journal;
    long now = now();
    this.stream = RoomStream.start(name, env.settings(), found.snapshot(), recovered, now);
    this.removals = new Removals(env.settings().removalRetention().getSeconds());
    this.lifetime = new RoomLifetime(ctx, timers, env, members, stream, removals, journal, snapshots);
    this.writes = new RoomWrites(name, stream, members, journal, env.metrics(), env.clock(), lifetime::emptied);
    this.heldForMembers = new HeldForMembers(now, env.settings().internals().rejoinGrace().toMillis(),
        env.settings().internals().rejoinHeldMax(), timers);
    if (recovered != null) {
      removals.merge(recovered.removedAt());
      journal.onRecovered();
    } else {
      found.removedAt().forEach(removals::merge);
    }
    if (found.snapshot() != null) {
      found.snapshot().hubs().forEach(hub -> hub.tell(new Hub.RoomMoved(name, ctx.getSelf())));
      snapshots.takenOver();
    }
    env.metrics().roomStarted();
    this.owner = OwnerLink.forRoom(name, this, ctx, env.sharding());
  }

  OwnerLink owner() {
    return owner;
  }

  @Override
  public Receive<RoomInbox> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Stop.INSTANCE, () -> lifetime.onStop(this))
        .onMessage(RoomSnapshots.Written.class, w -> this)
        .onMessage(JournalLink.Recovered.class, r -> {
          removals.merge(r.removedAt());
          writes.recovered(r);
          return this;
        })
        .onMessage(JournalLink.Message.class, m -> {
          journal.handle(m);
          return lifetime.afterJournal(this);
        })
        .onMessage(RoomInbox.class, c -> lifetime.passivating() && !(c instanceof MemberGone || c instanceof RoomLifetime.IdleCheck
            || c instanceof OwnerLink.EntityGone), this::forwardToNextIncarnation)
        .onMessage(Room.Join.class, this::onJoin)
        .onMessage(RoomInbox.Rejoin.class, this::onRejoin)
        .onMessage(RoomInbox.Recover.class, r -> {
          r.hub().tell(new Hub.Recovered(name, stream.catchUp(r.epoch(), r.seq(), now()), stream.epoch(), stream.seq()));
          return this;
        })
        .onMessage(Room.Leave.class, l -> leave(l.socket(), l.hub(), ServerFrames.left(l.requestId(), name, null)))
        .onMessage(Room.SocketClosing.class, c -> leave(c.socket(), c.hub(), null))
        .onMessage(Room.AccessRevoked.class, r -> leave(r.socket(), r.hub(), ServerFrames.left(null, name, "revoked")))
        .onMessage(Room.Append.class, a -> {
          writes.append(a);
          return this;
        })
        .onMessage(Room.SocketPublish.class, this::onSocketPublish)
        .onMessage(Room.ReadStream.class, r -> {
          writes.read(r);
          return this;
        })
        .onMessage(Room.GetPresence.class, g -> {
          g.replyTo().tell(new Room.PresenceList(name, members.presence().list()));
          return this;
        })
        .onMessage(Room.QueryPresence.class, this::onQueryPresence)
        .onMessage(Room.RemoveUser.class, this::onRemoveUser)
        .onMessage(MemberGone.class, this::onMemberGone)
        .onMessage(User.OwnSockets.class, sockets -> {
          owner.take(sockets);
          return this;
        })
        .onMessage(OwnerLink.EntityGone.class, gone -> {
          owner.gone(gone, lifetime.passivating());
          return this;
        })
        .onMessageEquals(RoomLifetime.IdleCheck.INSTANCE, () -> {
          lifetime.onIdleCheck();
          return this;
        })
        .onMessageEquals(HeldForMembers.RELEASE, this::releaseHeld)
        .onSignal(PostStop.class, s -> {
          env.metrics().roomStopped();
          return this;
        })
        .build();
  }

  /**
   * Between asking to passivate and the stop, whatever arrives goes back through the shard, which
   * buffers it for the room's next incarnation: nothing is handled by a room about to vanish.
   */
  private Behavior<RoomInbox> forwardToNextIncarnation(RoomInbox command) {
    env.sharding().entityRefFor(Room.KEY, name).tell(command);
    return this;
  }

  private Behavior<RoomInbox> onJoin(Room.Join join) {
    if (isRemoved(join.userId(), join.tokenIssuedAt())) {
      // the socket drops the room from its books, then sends the error
      removeMember(join.socket());
      join.hub().tell(new Hub.LetGo(name, join.socket(),
          ServerFrames.error(join.requestId(), ErrorCodes.FORBIDDEN, "removed from " + name + "; a newer token is needed")));
      return this;
    }
    if (join.again() && members.contains(join.socket())) {
      // the socket is a member: its events already come, and a second joined frame (with everything
      // missed) would only cost memory (issue 12). Not a member: its first join was lost on the way
      // (a region drops what it buffered when a hand-off starts), so this one is served in full.
      return toSocket(join.hub(), join.socket(),
          ServerFrames.error(join.requestId(), ErrorCodes.BAD_REQUEST, "already joined to " + name));
    }
    MemberInfo info = new MemberInfo(join.socket(), join.userId(), join.name(), join.role(), join.seesPresence());
    if (!members.contains(join.socket())) {
      addMember(info, join.hub(), true);
    }
    join.hub().tell(new Hub.AddMember(name, getContext().getSelf(), info,
        stream.joinedFrame(join.requestId(), join.since(), now()), stream.epoch(), stream.seq()));
    return this;
  }

  /** One of the user's sockets, handed by the user entity: a member from the start, silently. */
  void takeOwnSocket(MemberInfo info, ActorRef<Hub.Command> hub, Long tokenIssuedAt) {
    if (!members.contains(info.socket()) && !isRemoved(info.userId(), tokenIssuedAt)) {
      addMember(info, hub, false);
      hub.tell(new Hub.AddMember(name, getContext().getSelf(), info, null, stream.epoch(), stream.seq()));
    }
  }

  private void addMember(MemberInfo info, ActorRef<Hub.Command> hub, boolean announce) {
    String arrived = members.add(info, hub);
    getContext().watchWith(info.socket(), new MemberGone(info.socket()));
    if (arrived != null && announce) {
      broadcastToWatchers(ServerFrames.presenceDiff(name, List.of(arrived), List.of()));
    }
  }

  /**
   * Members of the previous incarnation, brought back by their hub. They get what they missed, or,
   * when this room's history cannot cover it, a {@code joined} with {@code recovered:false}: reload.
   */
  private Behavior<RoomInbox> onRejoin(RoomInbox.Rejoin rejoin) {
    for (MemberInfo info : rejoin.members()) {
      if (!members.contains(info.socket())) {
        addMember(info, rejoin.hub(), false);
      }
    }
    if (rejoin.last()) {
      rejoin.hub().tell(new Hub.Rejoined(name, getContext().getSelf(),
          stream.catchUp(rejoin.epoch(), rejoin.seq(), now()), stream.epoch(), stream.seq()));
    }
    return releaseHeld();
  }

  /** Handles the held requests again, in order: those still from unknown sockets are held again until the grace ends. */
  private Behavior<RoomInbox> releaseHeld() {
    for (Room.Command request : heldForMembers.release()) {
      if (request instanceof Room.SocketPublish publish) {
        onSocketPublish(publish);
      } else if (request instanceof Room.QueryPresence query) {
        onQueryPresence(query);
      }
    }
    return this;
  }

  private boolean isRemoved(String userId, Long tokenIssuedAt) {
    return removals.bars(userId, tokenIssuedAt, nowSeconds());
  }

  /** A socket leaves as it asked (or closes: no {@code lastFrame}), member or not. */
  private Behavior<RoomInbox> leave(ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub, String lastFrame) {
    removeMember(socket);
    hub.tell(new Hub.RemoveMember(name, socket, lastFrame));
    return this;
  }

  private Behavior<RoomInbox> onMemberGone(MemberGone gone) {
    RoomMembers.Gone member = removeMember(gone.socket());
    if (member != null) {
      member.member().hub().tell(new Hub.RemoveMember(name, gone.socket(), null));
    }
    return this;
  }

  /** Takes a socket out of the room and, on a user's last socket, out of presence. */
  private RoomMembers.Gone removeMember(ActorRef<MemberInbox> socket) {
    RoomMembers.Gone gone = members.remove(socket);
    if (gone == null) {
      return null;
    }
    getContext().unwatch(socket);
    if (gone.userLeft()) {
      broadcastToWatchers(ServerFrames.presenceDiff(name, List.of(), List.of(gone.member().info().userId())));
    }
    if (members.isEmpty()) {
      lifetime.emptied();
    }
    return gone;
  }

  private Behavior<RoomInbox> onSocketPublish(Room.SocketPublish publish) {
    boolean member = members.contains(publish.socket());
    if (!member && heldForMembers.hold(publish, now())) {
      return this;
    }
    if (!member) {
      return toSocket(publish.hub(), publish.socket(),
          ServerFrames.error(publish.requestId(), ErrorCodes.NOT_JOINED, "not joined to " + name));
    }
    writes.socketPublish(publish);
    return this;
  }

  private Behavior<RoomInbox> onQueryPresence(Room.QueryPresence query) {
    RoomMembers.Member member = members.get(query.socket());
    if (member == null && !query.byIdentity() && heldForMembers.hold(query, now())) {
      return this;
    }
    boolean allowed = (member != null && member.info().seesPresence()) || query.byIdentity();
    if (!allowed || isRemoved(query.userId(), query.tokenIssuedAt())) {
      return toSocket(query.hub(), query.socket(),
          ServerFrames.error(query.requestId(), ErrorCodes.FORBIDDEN, "may not see presence of " + name));
    }
    return toSocket(query.hub(), query.socket(),
        members.presence().frame(query.requestId(), name, env.settings().limits().outgoingBytes()));
  }

  private Behavior<RoomInbox> toSocket(ActorRef<Hub.Command> hub, ActorRef<MemberInbox> socket, String frame) {
    hub.tell(new Hub.ToSocket(name, socket, frame));
    return this;
  }

  /** A removal is stored first (a durable room's journal; a memory room's Distributed Data entry after). */
  private Behavior<RoomInbox> onRemoveUser(Room.RemoveUser remove) {
    if (!journal.available()) {
      remove.replyTo().tell(new Room.Unavailable(RoomWrites.UNAVAILABLE));
      return this;
    }
    long at = nowSeconds();
    journal.write(new RoomJournal.UserRemoved(remove.userId(), at), () -> removeNow(remove, at),
        () -> remove.replyTo().tell(new Room.Unavailable(RoomWrites.UNAVAILABLE)));
    return this;
  }

  private void removeNow(Room.RemoveUser remove, long at) {
    removals.remove(remove.userId(), at);
    if (!journal.durable()) {
      snapshots.writeRemovals(removals.asMap());
    }
    String leftFrame = ServerFrames.left(null, name, "removed");
    List<ActorRef<MemberInbox>> sockets = members.socketsOf(remove.userId());
    for (ActorRef<MemberInbox> socket : sockets) {
      removeMember(socket).member().hub().tell(new Hub.LetGo(name, socket, leftFrame));
    }
    remove.replyTo().tell(new Room.Removed(sockets.size()));
  }

  private void broadcastToWatchers(String frame) {
    long at = Metrics.nowMicros();
    for (ActorRef<Hub.Command> hub : members.hubs()) {
      hub.tell(new Hub.Broadcast(name, frame, true, at, stream.epoch(), 0));
    }
  }

  private long now() {
    return env.clock().millis();
  }

  private long nowSeconds() {
    return now() / 1000;
  }
}

package lms.realtime.fanout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CborSerializable;
import lms.realtime.room.Room;
import lms.realtime.session.Connection;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * Node-local fan-out for a slice of the rooms (rooms are spread over a node's hubs by name). A room
 * entity sends each event once to every node's hub that holds members, as text; the hub renders it
 * to a {@link Frame} once and hands it to each drainer of the room's local members (one event loop
 * task per loop on the netty transport, one offer per outbox on pekko-http). Everything a room says
 * to its members passes through the hub, so it reaches each member in the order the room said it.
 *
 * <p>The hub also keeps its members in their rooms when a room entity moves (a rolling restart, a
 * rebalance) or dies with its node: it watches each room's actor and, when it stops while members
 * remain, joins them again to the room's next incarnation with the last position it delivered. The
 * room answers with what they missed, or tells them its history is gone.
 */
public final class Hub extends AbstractBehavior<Hub.Command> {

  public sealed interface Command extends CborSerializable {}

  /** What a room needs to take a member back without a new join request. */
  public record MemberInfo(
      ActorRef<Connection.Command> connection, String userId, String name, String role, boolean seesPresence)
      implements CborSerializable {}

  /**
   * Subscribes a member and sends it its {@code joined} frame (null: a silent, automatic join).
   * {@code epoch} and {@code seq} are the room's position the member starts from.
   */
  public record AddMember(
      String room, ActorRef<Room.Command> roomActor, MemberInfo member, String joinedFrame, String epoch, long seq)
      implements Command {}

  /**
   * Unsubscribes a member; {@code leftFrame} (or null) is its last frame of the room. {@code
   * tellConnection} when the member did not ask to leave (removed by the backend).
   */
  public record RemoveMember(String room, ActorRef<Connection.Command> connection, String leftFrame, boolean tellConnection)
      implements Command {}

  /**
   * One frame to every local member of a room, or only to those who see its presence. Events carry
   * their {@code seq} (0 for other frames), the position a hub re-joins from.
   */
  public record Broadcast(String room, String frame, boolean presenceWatchersOnly, long publishedAtMicros, String epoch, long seq)
      implements Command {}

  /** One frame to one member, in order with the room's broadcasts (an ack after its event). */
  public record ToMember(String room, ActorRef<Connection.Command> connection, String frame) implements Command {}

  /** A room's next incarnation took this hub's members back; {@code frames} go to all of them. */
  public record Rejoined(String room, ActorRef<Room.Command> roomActor, List<String> frames, String epoch, long seq)
      implements Command {}

  /**
   * The room's answer to a gap this hub found in its events ({@link Room.Recover}): the events it
   * missed, or a {@code joined} with {@code recovered:false} when the room's history cannot cover
   * them; then the room's position.
   */
  public record Recovered(String room, List<String> frames, String epoch, long seq) implements Command {}

  /**
   * A room's next incarnation took over from a hand-off: the members go to it now. (The death watch
   * of the previous incarnation says the same, but seconds later from a node that is leaving.)
   */
  public record RoomMoved(String room, ActorRef<Room.Command> roomActor) implements Command {}

  private record ConnectionGone(ActorRef<Connection.Command> connection) implements Command {}

  private record RoomActorGone(String room, ActorRef<Room.Command> roomActor) implements Command {}

  /** No answer to a re-join yet: sent to a node that died before sharding moved the room? Again. */
  private record RejoinTimeout(String room) implements Command {}

  /** No answer to a gap's recovery yet: again. */
  private record RecoverTimeout(String room) implements Command {}

  private record Member(Outbox outbox, MemberInfo info) {}

  /** Members that one drainer writes to; the array is never changed once built. */
  private record Group(Drainer drainer, Outbox[] outboxes) {}

  private static final Group[] NO_GROUPS = new Group[0];

  /** A room as this hub knows it: its current actor, the last position delivered, local members. */
  private static final class Subscription {
    ActorRef<Room.Command> roomActor;
    String epoch;
    long seq;
    final Map<ActorRef<Connection.Command>, Member> members = new HashMap<>();
    /** The members a re-join is under way for (null: none): they, and only they, get the catch-up. */
    Set<ActorRef<Connection.Command>> rejoining;
    /** A gap in the events was found and its recovery asked of the room: events wait for the answer. */
    boolean recovering;
    /** Members by drainer, for events and for presence watchers; null until needed after a change. */
    private Group[] everyone;
    private Group[] watchers;

    void put(ActorRef<Connection.Command> connection, Member member) {
      Member before = members.put(connection, member);
      changed(member);
      if (before != null) {
        changed(before);
      }
    }

    Member remove(ActorRef<Connection.Command> connection) {
      Member gone = members.remove(connection);
      if (gone != null) {
        changed(gone);
      }
      return gone;
    }

    private void changed(Member m) {
      everyone = null;
      if (m.info().seesPresence()) {
        watchers = null; // a student joining leaves the instructors' groups as they are
      }
    }

    Group[] groups(boolean watchersOnly) {
      if (watchersOnly) {
        return watchers != null ? watchers : (watchers = group(true));
      }
      return everyone != null ? everyone : (everyone = group(false));
    }

    private Group[] group(boolean watchersOnly) {
      Map<Drainer, List<Outbox>> byDrainer = new IdentityHashMap<>(4);
      for (Member m : members.values()) {
        if (!watchersOnly || m.info().seesPresence()) {
          byDrainer.computeIfAbsent(m.outbox().drainer(), d -> new ArrayList<>()).add(m.outbox());
        }
      }
      if (byDrainer.isEmpty()) {
        return NO_GROUPS;
      }
      Group[] groups = new Group[byDrainer.size()];
      int i = 0;
      for (Map.Entry<Drainer, List<Outbox>> e : byDrainer.entrySet()) {
        groups[i++] = new Group(e.getKey(), e.getValue().toArray(new Outbox[0]));
      }
      return groups;
    }
  }

  /**
   * {@code rejoinBatch}: members per {@link Room.Rejoin} message (a re-join stays under Artery's large
   * frame); {@code rejoinRetry}: how often a re-join or a recovery without an answer is tried again.
   */
  public static Behavior<Command> create(LocalSockets sockets, Metrics metrics, int rejoinBatch, Duration rejoinRetry) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Hub(ctx, timers, sockets, metrics, rejoinBatch, rejoinRetry)));
  }

  private final TimerScheduler<Command> timers;

  private final LocalSockets sockets;
  private final Metrics metrics;
  private final int rejoinBatch;
  private final Duration rejoinRetry;
  private final Map<String, Subscription> rooms = new HashMap<>();
  private final Map<ActorRef<Connection.Command>, Set<String>> roomsOf = new HashMap<>();

  private Hub(ActorContext<Command> ctx, TimerScheduler<Command> timers,
      LocalSockets sockets, Metrics metrics, int rejoinBatch, Duration rejoinRetry) {
    super(ctx);
    this.timers = timers;
    this.sockets = sockets;
    this.metrics = metrics;
    this.rejoinBatch = rejoinBatch;
    this.rejoinRetry = rejoinRetry;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(AddMember.class, this::onAddMember)
        .onMessage(RemoveMember.class, this::onRemoveMember)
        .onMessage(Broadcast.class, this::onBroadcast)
        .onMessage(ToMember.class, this::onToMember)
        .onMessage(Rejoined.class, this::onRejoined)
        .onMessage(RoomMoved.class, this::onRoomMoved)
        .onMessage(ConnectionGone.class, this::onConnectionGone)
        .onMessage(RoomActorGone.class, this::onRoomActorGone)
        .onMessage(RejoinTimeout.class, this::onRejoinTimeout)
        .onMessage(Recovered.class, this::onRecovered)
        .onMessage(RecoverTimeout.class, this::onRecoverTimeout)
        .build();
  }

  private Behavior<Command> onAddMember(AddMember msg) {
    ActorRef<Connection.Command> connection = msg.member().connection();
    Outbox outbox = sockets.outbox(connection);
    if (outbox == null) {
      return this; // the socket is already gone; its room learns it from its own watch
    }
    Set<String> joined = roomsOf.get(connection);
    if (joined == null) {
      joined = new HashSet<>();
      roomsOf.put(connection, joined);
      getContext().watchWith(connection, new ConnectionGone(connection));
    }
    joined.add(msg.room());
    Subscription sub = rooms.computeIfAbsent(msg.room(), r -> new Subscription());
    follow(msg.room(), sub, msg.roomActor(), msg.epoch(), msg.seq());
    sub.put(connection, new Member(outbox, msg.member()));
    if (msg.joinedFrame() != null) {
      outbox.sendText(msg.joinedFrame());
    }
    return this;
  }

  /** Starts watching a room's actor (a new incarnation) and takes its position if it is newer. */
  private void follow(String room, Subscription sub, ActorRef<Room.Command> roomActor, String epoch, long seq) {
    if (!roomActor.equals(sub.roomActor)) {
      if (sub.roomActor != null) {
        getContext().unwatch(sub.roomActor);
      }
      sub.roomActor = roomActor;
      getContext().watchWith(roomActor, new RoomActorGone(room, roomActor));
      sub.epoch = epoch;
      sub.seq = seq;
    } else if (epoch.equals(sub.epoch) && seq > sub.seq) {
      sub.seq = seq;
    }
  }

  private Behavior<Command> onRemoveMember(RemoveMember msg) {
    Member member = unsubscribe(msg.room(), msg.connection());
    if (member != null && msg.leftFrame() != null) {
      member.outbox().sendText(msg.leftFrame());
    }
    if (msg.tellConnection()) {
      msg.connection().tell(new Connection.RoomLeft(msg.room()));
    }
    return this;
  }

  private Member unsubscribe(String room, ActorRef<Connection.Command> connection) {
    Subscription sub = rooms.get(room);
    Member member = sub == null ? null : sub.remove(connection);
    if (sub != null && sub.members.isEmpty()) {
      drop(room, sub);
    }
    Set<String> joined = roomsOf.get(connection);
    if (joined != null) {
      joined.remove(room);
      if (joined.isEmpty()) {
        roomsOf.remove(connection);
        getContext().unwatch(connection);
      }
    }
    return member;
  }

  private void drop(String room, Subscription sub) {
    rooms.remove(room);
    if (sub.roomActor != null) {
      getContext().unwatch(sub.roomActor);
    }
  }

  private Behavior<Command> onBroadcast(Broadcast msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null) {
      return this;
    }
    if (msg.seq() > 0 && gap(sub, msg)) {
      return this; // the room's answer to the recovery carries this event too
    }
    Frame frame = Frame.text(msg.frame());
    for (Group group : sub.groups(msg.presenceWatchersOnly())) {
      group.drainer().deliver(frame, group.outboxes(), group.outboxes().length);
    }
    if (msg.seq() > 0) {
      sub.epoch = msg.epoch();
      sub.seq = msg.seq();
      metrics.enqueued(msg.publishedAtMicros());
    }
    return this;
  }

  private Behavior<Command> onToMember(ToMember msg) {
    Outbox outbox = sockets.outbox(msg.connection());
    if (outbox != null) {
      outbox.sendText(msg.frame());
    }
    return this;
  }

  private Behavior<Command> onConnectionGone(ConnectionGone msg) {
    Set<String> joined = roomsOf.get(msg.connection());
    if (joined != null) {
      for (String room : List.copyOf(joined)) {
        unsubscribe(room, msg.connection());
      }
    }
    return this;
  }

  /** The room's actor stopped with members still here: take them to its next incarnation. */
  private Behavior<Command> onRoomActorGone(RoomActorGone msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || !msg.roomActor().equals(sub.roomActor) || sub.members.isEmpty()) {
      return this;
    }
    rejoinNextIncarnation(msg.room(), sub);
    return this;
  }

  private Behavior<Command> onRoomMoved(RoomMoved msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || sub.members.isEmpty() || msg.roomActor().equals(sub.roomActor) || sub.rejoining != null) {
      return this; // nobody here, already following it, or a re-join already under way
    }
    rejoinNextIncarnation(msg.room(), sub);
    return this;
  }

  private void rejoinNextIncarnation(String room, Subscription sub) {
    if (sub.roomActor != null) {
      getContext().unwatch(sub.roomActor);
    }
    sub.roomActor = null;
    sub.rejoining = new HashSet<>(sub.members.keySet());
    sendRejoin(room, sub);
  }

  /** The members go in batches; the room answers the last one. */
  private void sendRejoin(String room, Subscription sub) {
    var roomRef = ClusterSharding.get(getContext().getSystem()).entityRefFor(Room.KEY, room);
    List<MemberInfo> batch = new ArrayList<>(Math.min(rejoinBatch, sub.members.size()));
    int left = sub.members.size();
    for (Member m : sub.members.values()) {
      batch.add(m.info());
      left--;
      if (batch.size() == rejoinBatch || left == 0) {
        roomRef.tell(new Room.Rejoin(getContext().getSelf(), List.copyOf(batch), sub.epoch, sub.seq, left == 0));
        batch.clear();
      }
    }
    timers.startSingleTimer(new RejoinTimeout(room), rejoinRetry);
  }

  /**
   * Events of one room come in {@code seq} order; one that skips a number means some were lost on
   * the way (issue 12: messages dropped between nodes used to go unnoticed). The hub asks the room
   * for what it missed, holds the room's events until the answer (which carries them), and asks
   * again if no answer comes.
   */
  private boolean gap(Subscription sub, Broadcast msg) {
    if (sub.recovering) {
      return true;
    }
    if (sub.roomActor == null || sub.epoch == null || !sub.epoch.equals(msg.epoch()) || msg.seq() <= sub.seq + 1) {
      return false;
    }
    sub.recovering = true;
    getContext().getLog().info("room {}: events {}..{} missing on this node; recovering them", msg.room(), sub.seq + 1, msg.seq() - 1);
    metrics.gapFound();
    askRecovery(msg.room(), sub);
    return true;
  }

  private void askRecovery(String room, Subscription sub) {
    sub.roomActor.tell(new Room.Recover(getContext().getSelf(), sub.epoch, sub.seq));
    timers.startSingleTimer(new RecoverTimeout(room), rejoinRetry);
  }

  private Behavior<Command> onRecoverTimeout(RecoverTimeout msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub != null && sub.recovering && sub.roomActor != null) {
      askRecovery(msg.room(), sub);
    }
    return this;
  }

  private Behavior<Command> onRecovered(Recovered msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || !sub.recovering) {
      return this;
    }
    timers.cancel(new RecoverTimeout(msg.room()));
    sub.recovering = false;
    sub.epoch = msg.epoch();
    sub.seq = msg.seq();
    for (String text : msg.frames()) {
      Frame frame = Frame.text(text);
      for (Group group : sub.groups(false)) {
        group.drainer().deliver(frame, group.outboxes(), group.outboxes().length);
      }
    }
    return this;
  }

  private Behavior<Command> onRejoinTimeout(RejoinTimeout msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub != null && sub.rejoining != null && !sub.members.isEmpty()) {
      sendRejoin(msg.room(), sub);
    }
    return this;
  }

  private Behavior<Command> onRejoined(Rejoined msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null) {
      return this;
    }
    if (sub.rejoining == null) {
      return this; // an answer to a retried re-join that was already answered
    }
    timers.cancel(new RejoinTimeout(msg.room()));
    // A socket that joined the new incarnation meanwhile (AddMember) already has its position;
    // the answer still counts, and its catch-up goes to the members that were re-joined only.
    follow(msg.room(), sub, msg.roomActor(), msg.epoch(), msg.seq());
    sub.epoch = msg.epoch();
    sub.seq = msg.seq();
    Set<ActorRef<Connection.Command>> caughtUp = sub.rejoining;
    sub.rejoining = null;
    for (String text : msg.frames()) {
      Frame frame = Frame.text(text);
      for (ActorRef<Connection.Command> connection : caughtUp) {
        Member member = sub.members.get(connection);
        if (member != null) {
          member.outbox().send(frame);
        }
      }
    }
    return this;
  }
}

package lms.realtime.fanout;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.fanout.Subscription.Member;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * Node-local fan-out for a slice of the rooms (rooms are spread over a node's hubs by name). A room
 * entity sends each event once to every node's hub that holds members, as text; the hub renders it
 * to a {@link Frame} once and hands it to each drainer of the room's local members (one event loop
 * task per loop on the netty transport, one offer per outbox on pekko-http). Everything a room says
 * to a socket of this node, member or not, passes through the hub, so it reaches the socket in the
 * order the room said it.
 *
 * <p>The hub also keeps its members in their rooms when a room entity moves (a rolling restart, a
 * rebalance) or dies with its node: its {@link RoomFollower} watches each room's actor and joins the
 * members again to the room's next incarnation with the last position delivered. The room answers
 * with what they missed, or tells them its history is gone. And it recovers events lost on the way
 * ({@link GapRecovery}), holding what the room says meanwhile so that nothing overtakes them.
 */
public final class Hub extends AbstractBehavior<Hub.Command> {

  /** Sealed: everything a hub takes is here. */
  public sealed interface Command extends CborSerializable {}

  /**
   * Subscribes a member and sends it its {@code joined} frame (null: a silent, automatic join).
   * {@code epoch} and {@code seq} are the room's position the member starts from.
   */
  public record AddMember(
      String room, ActorRef<RoomInbox> roomActor, MemberInfo member, String joinedFrame, String epoch, long seq)
      implements Command {}

  /**
   * Unsubscribes a socket that asked to go (or went); {@code lastFrame} (or null) is its last frame
   * of the room, written even if the socket was no member (a {@code left} for a leave the room did
   * not expect).
   */
  public record RemoveMember(String room, ActorRef<MemberInbox> socket, String lastFrame) implements Command {}

  /**
   * Unsubscribes a socket that did not ask to go (the backend removed its user, its join was
   * refused): the socket is told ({@link MemberInbox.RoomLeft}) and sends {@code lastFrame} itself,
   * after dropping the room from its books.
   */
  public record LetGo(String room, ActorRef<MemberInbox> socket, String lastFrame) implements Command {}

  /**
   * One frame to every local member of a room, or only to those who see its presence. Events carry
   * their {@code seq} (0 for other frames), the position a hub re-joins from.
   */
  public record Broadcast(String room, String frame, boolean presenceWatchersOnly, long publishedAtMicros, String epoch, long seq)
      implements Command {}

  /**
   * One frame to one socket of this node, member or not, in order with the room's broadcasts: an ack
   * after its event, a presence reply, an error. A room says nothing to a socket any other way.
   */
  public record ToSocket(String room, ActorRef<MemberInbox> socket, String frame) implements Command {}

  /** A room's next incarnation took this hub's members back; {@code frames} go to all of them. */
  public record Rejoined(String room, ActorRef<RoomInbox> roomActor, List<String> frames, String epoch, long seq)
      implements Command {}

  /**
   * The room's answer to a gap this hub found in its events ({@link RoomInbox.Recover}): the events it
   * missed, or a {@code joined} with {@code recovered:false} when the room's history cannot cover
   * them; then the room's position.
   */
  public record Recovered(String room, List<String> frames, String epoch, long seq) implements Command {}

  /**
   * A room's next incarnation took over from a hand-off: the members go to it now. (The death watch
   * of the previous incarnation says the same, but seconds later from a node that is leaving.)
   */
  public record RoomMoved(String room, ActorRef<RoomInbox> roomActor) implements Command {}

  private record SocketGone(ActorRef<MemberInbox> socket) implements Command {}

  record RoomActorGone(String room, ActorRef<RoomInbox> roomActor) implements Command {}

  /** No answer to a re-join yet: sent to a node that died before sharding moved the room? Again. */
  record RejoinTimeout(String room) implements Command {}

  /** No answer to a gap's recovery yet: again. */
  record RecoverTimeout(String room) implements Command {}

  /**
   * {@code rejoinBatch}: members per {@link RoomInbox.Rejoin} message (a re-join stays under Artery's large
   * frame); {@code rejoinRetry}: how often a re-join or a recovery without an answer is tried again;
   * {@code heldMax}: messages a room's recovery may hold before it is given up.
   */
  public static Behavior<Command> create(
      LocalSockets sockets, Metrics metrics, EntityTypeKey<RoomInbox> rooms, int rejoinBatch, Duration rejoinRetry, int heldMax) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Hub(ctx, timers, sockets, metrics, rooms, rejoinBatch, rejoinRetry, heldMax)));
  }

  private final LocalSockets sockets;
  private final Metrics metrics;
  private final Map<String, Subscription> rooms = new HashMap<>();
  private final Map<ActorRef<MemberInbox>, Set<String>> roomsOf = new HashMap<>();
  private final GapRecovery recovery;
  private final RoomFollower follower;

  private Hub(ActorContext<Command> ctx, TimerScheduler<Command> timers, LocalSockets sockets, Metrics metrics,
      EntityTypeKey<RoomInbox> roomKey, int rejoinBatch, Duration rejoinRetry, int heldMax) {
    super(ctx);
    this.sockets = sockets;
    this.metrics = metrics;
    this.recovery = new GapRecovery(ctx, timers, rooms, metrics, rejoinRetry, heldMax, this::released, this::drop);
    this.follower = new RoomFollower(ctx, timers, rooms, recovery, roomKey, rejoinBatch, rejoinRetry);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(AddMember.class, this::onAddMember)
        .onMessage(RemoveMember.class, this::onRemoveMember)
        .onMessage(LetGo.class, this::onLetGo)
        .onMessage(Broadcast.class, this::onBroadcast)
        .onMessage(ToSocket.class, this::onToSocket)
        .onMessage(SocketGone.class, this::onSocketGone)
        .onMessage(Rejoined.class, m -> followed(() -> follower.rejoined(m)))
        .onMessage(RoomMoved.class, m -> followed(() -> follower.roomMoved(m)))
        .onMessage(RoomActorGone.class, m -> followed(() -> follower.roomActorGone(m)))
        .onMessage(RejoinTimeout.class, m -> followed(() -> follower.rejoinTimeout(m)))
        .onMessage(Recovered.class, m -> followed(() -> recovery.recovered(m)))
        .onMessage(RecoverTimeout.class, m -> followed(() -> recovery.timeout(m)))
        .build();
  }

  private Behavior<Command> followed(Runnable handled) {
    handled.run();
    return this;
  }

  /** A message a gap recovery held, in its turn. */
  private void released(Command msg) {
    if (msg instanceof AddMember add) {
      onAddMember(add);
    } else if (msg instanceof RemoveMember remove) {
      onRemoveMember(remove);
    } else if (msg instanceof LetGo letGo) {
      onLetGo(letGo);
    } else if (msg instanceof ToSocket toSocket) {
      onToSocket(toSocket);
    } else if (msg instanceof Broadcast broadcast) {
      onBroadcast(broadcast);
    }
  }

  private Behavior<Command> onAddMember(AddMember msg) {
    if (recovery.held(msg.room(), msg)) {
      return this;
    }
    ActorRef<MemberInbox> socket = msg.member().socket();
    Outbox outbox = sockets.outbox(socket);
    if (outbox == null) {
      return this; // the socket is already gone; its room learns it from its own watch
    }
    Set<String> joined = roomsOf.get(socket);
    if (joined == null) {
      joined = new HashSet<>();
      roomsOf.put(socket, joined);
      getContext().watchWith(socket, new SocketGone(socket));
    }
    joined.add(msg.room());
    Subscription sub = rooms.computeIfAbsent(msg.room(), r -> new Subscription());
    follower.follow(msg.room(), sub, msg.roomActor(), msg.epoch(), msg.seq());
    sub.put(socket, new Member(outbox, msg.member()));
    if (msg.joinedFrame() != null) {
      outbox.sendText(msg.joinedFrame());
    }
    return this;
  }

  private Behavior<Command> onRemoveMember(RemoveMember msg) {
    if (recovery.held(msg.room(), msg)) {
      return this;
    }
    unsubscribe(msg.room(), msg.socket());
    if (msg.lastFrame() != null) {
      sendTo(msg.socket(), msg.lastFrame());
    }
    return this;
  }

  private Behavior<Command> onLetGo(LetGo msg) {
    if (recovery.held(msg.room(), msg)) {
      return this;
    }
    unsubscribe(msg.room(), msg.socket());
    msg.socket().tell(new MemberInbox.RoomLeft(msg.room(), msg.lastFrame()));
    return this;
  }

  private void unsubscribe(String room, ActorRef<MemberInbox> socket) {
    Subscription sub = rooms.get(room);
    if (sub != null) {
      sub.remove(socket);
      if (sub.members.isEmpty() && !sub.recovering()) {
        drop(room, sub); // a recovering room's held joins are still to come: the recovery's end drops it
      }
    }
    Set<String> joined = roomsOf.get(socket);
    if (joined != null) {
      joined.remove(room);
      if (joined.isEmpty()) {
        roomsOf.remove(socket);
        getContext().unwatch(socket);
      }
    }
  }

  private void drop(String room, Subscription sub) {
    rooms.remove(room);
    if (sub.roomActor != null) {
      getContext().unwatch(sub.roomActor);
    }
  }

  private Behavior<Command> onBroadcast(Broadcast msg) {
    if (recovery.held(msg.room(), msg)) {
      return this;
    }
    Subscription sub = rooms.get(msg.room());
    if (sub == null) {
      return this;
    }
    if (msg.seq() > 0 && recovery.gap(sub, msg)) {
      return this; // the room's answer to the recovery carries this event too
    }
    Frame frame = Frame.text(msg.frame());
    sub.deliver(frame, msg.presenceWatchersOnly());
    if (msg.seq() > 0) {
      sub.epoch = msg.epoch();
      sub.seq = msg.seq();
      metrics.enqueued(msg.publishedAtMicros());
    }
    return this;
  }

  private Behavior<Command> onToSocket(ToSocket msg) {
    if (recovery.held(msg.room(), msg)) {
      return this;
    }
    sendTo(msg.socket(), msg.frame());
    return this;
  }

  /** One frame to a socket of this node, member or not; nothing once it is gone. */
  private void sendTo(ActorRef<MemberInbox> socket, String frame) {
    Outbox outbox = sockets.outbox(socket);
    if (outbox != null) {
      outbox.sendText(frame);
    }
  }

  private Behavior<Command> onSocketGone(SocketGone msg) {
    Set<String> joined = roomsOf.get(msg.socket());
    if (joined != null) {
      for (String room : List.copyOf(joined)) {
        unsubscribe(room, msg.socket());
      }
    }
    return this;
  }
}

package lms.realtime.connection;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.CborSerializable;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Node-local fan-out for a slice of the rooms (rooms are spread over a node's hubs by name). A room
 * entity sends each event once to every node's hub that holds members, as text; the hub renders it
 * to a frame once and offers that frame to each local member's outbox. Everything a room says to its
 * members passes through the hub, so it reaches each member in the order the room said it.
 */
public final class Hub extends AbstractBehavior<Hub.Command> {

  public sealed interface Command extends CborSerializable {}

  /** Subscribes a member and sends it its {@code joined} frame. */
  public record AddMember(String room, ActorRef<Connection.Command> connection, boolean seesPresence, String joinedFrame)
      implements Command {}

  /**
   * Unsubscribes a member; {@code leftFrame} (or null) is its last frame of the room. {@code
   * tellConnection} when the member did not ask to leave (removed by the backend).
   */
  public record RemoveMember(String room, ActorRef<Connection.Command> connection, String leftFrame, boolean tellConnection)
      implements Command {}

  /** One frame to every local member of a room, or only to those who see its presence. */
  public record Broadcast(String room, String frame, boolean presenceWatchersOnly, long publishedAtMicros) implements Command {}

  /** One frame to one member, in order with the room's broadcasts (an ack after its event). */
  public record ToMember(String room, ActorRef<Connection.Command> connection, String frame) implements Command {}

  private record ConnectionGone(ActorRef<Connection.Command> connection) implements Command {}

  private record Member(Outbox outbox, boolean seesPresence) {}

  public static Behavior<Command> create(LocalSockets sockets, Metrics metrics) {
    return Behaviors.setup(ctx -> new Hub(ctx, sockets, metrics));
  }

  private final LocalSockets sockets;
  private final Metrics metrics;
  private final Map<String, Map<ActorRef<Connection.Command>, Member>> rooms = new HashMap<>();
  private final Map<ActorRef<Connection.Command>, Set<String>> roomsOf = new HashMap<>();

  private Hub(ActorContext<Command> ctx, LocalSockets sockets, Metrics metrics) {
    super(ctx);
    this.sockets = sockets;
    this.metrics = metrics;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(AddMember.class, this::onAddMember)
        .onMessage(RemoveMember.class, this::onRemoveMember)
        .onMessage(Broadcast.class, this::onBroadcast)
        .onMessage(ToMember.class, this::onToMember)
        .onMessage(ConnectionGone.class, this::onConnectionGone)
        .build();
  }

  private Behavior<Command> onAddMember(AddMember msg) {
    Outbox outbox = sockets.outbox(msg.connection());
    if (outbox == null) {
      return this; // the socket is already gone; its room learns it from its own watch
    }
    Set<String> joined = roomsOf.get(msg.connection());
    if (joined == null) {
      joined = new HashSet<>();
      roomsOf.put(msg.connection(), joined);
      getContext().watchWith(msg.connection(), new ConnectionGone(msg.connection()));
    }
    joined.add(msg.room());
    rooms.computeIfAbsent(msg.room(), r -> new HashMap<>()).put(msg.connection(), new Member(outbox, msg.seesPresence()));
    if (msg.joinedFrame() != null) {
      outbox.sendText(msg.joinedFrame());
    }
    return this;
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
    Map<ActorRef<Connection.Command>, Member> members = rooms.get(room);
    Member member = members == null ? null : members.remove(connection);
    if (members != null && members.isEmpty()) {
      rooms.remove(room);
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

  private Behavior<Command> onBroadcast(Broadcast msg) {
    Map<ActorRef<Connection.Command>, Member> members = rooms.get(msg.room());
    if (members == null) {
      return this;
    }
    Object frame = WebSocketStack.textFrame(msg.frame());
    for (Member member : members.values()) {
      if (!msg.presenceWatchersOnly() || member.seesPresence()) {
        member.outbox().send(frame);
      }
    }
    if (!msg.presenceWatchersOnly()) {
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
    Set<String> joined = roomsOf.remove(msg.connection());
    if (joined != null) {
      for (String room : List.copyOf(joined)) {
        Map<ActorRef<Connection.Command>, Member> members = rooms.get(room);
        if (members != null) {
          members.remove(msg.connection());
          if (members.isEmpty()) {
            rooms.remove(room);
          }
        }
      }
    }
    return this;
  }
}

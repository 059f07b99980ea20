package lms.realtime.user;

import java.util.HashMap;
import java.util.Map;
import lms.realtime.CborSerializable;
import lms.realtime.NodeContext;
import lms.realtime.session.Connection;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One user (Cluster Sharding entity keyed by user id): their sockets on every node. It enforces the
 * per-user limit cluster-wide by construction, answers user presence and fans notifications out to
 * every device. It watches its sockets, so a socket that dies, or whose node dies, frees its slot.
 * With no socket left it passivates: it holds nothing else.
 */
public final class User extends AbstractBehavior<User.Command> {
  public static final EntityTypeKey<Command> KEY = EntityTypeKey.create(Command.class, "User");

  public sealed interface Command extends CborSerializable {}

  public record Register(ActorRef<Connection.Command> connection, int limit, ActorRef<Admission> replyTo) implements Command {}

  /** {@code entity}: this user entity, which an admitted socket watches to re-register if it moves. */
  public record Admission(boolean admitted, int connections, ActorRef<Command> entity) implements CborSerializable {}

  public record Unregister(ActorRef<Connection.Command> connection) implements Command {}

  public record Notify(String frame, ActorRef<Delivered> replyTo) implements Command {}

  public record Delivered(int delivered) implements CborSerializable {}

  public record GetPresence(ActorRef<UserPresence> replyTo) implements Command {}

  public record UserPresence(String userId, boolean online, int connections) implements CborSerializable {}

  private record ConnectionGone(ActorRef<Connection.Command> connection) implements Command {}

  private enum Stop implements Command {
    INSTANCE
  }

  public static void init(NodeContext node) {
    ClusterSharding.get(node.system())
        .init(Entity.of(KEY, ctx -> Behaviors.<Command>setup(c -> new User(c, ctx.getEntityId(), ctx.getShard(), node)))
            .withStopMessage(Stop.INSTANCE));
  }

  private final String userId;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final NodeContext node;
  private final Map<ActorRef<Connection.Command>, Boolean> connections = new HashMap<>();
  private boolean passivating;

  private User(ActorContext<Command> ctx, String userId, ActorRef<ClusterSharding.ShardCommand> shard, NodeContext node) {
    super(ctx);
    this.userId = userId;
    this.shard = shard;
    this.node = node;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Stop.INSTANCE, Behaviors::stopped)
        .onMessage(Command.class, c -> passivating && !(c instanceof ConnectionGone), this::forwardToNextIncarnation)
        .onMessage(Register.class, this::onRegister)
        .onMessage(Unregister.class, u -> remove(u.connection()))
        .onMessage(ConnectionGone.class, g -> remove(g.connection()))
        .onMessage(Notify.class, this::onNotify)
        .onMessage(GetPresence.class, this::onGetPresence)
        .onSignal(PostStop.class, s -> {
          if (!connections.isEmpty()) {
            node.metrics().userOffline();
          }
          return this;
        })
        .build();
  }

  /** See Room: between Passivate and Stop, messages go back through the shard's buffer. */
  private Behavior<Command> forwardToNextIncarnation(Command command) {
    ClusterSharding.get(getContext().getSystem()).entityRefFor(KEY, userId).tell(command);
    return this;
  }

  private Behavior<Command> onRegister(Register register) {
    if (connections.containsKey(register.connection())) {
      register.replyTo().tell(new Admission(true, connections.size(), getContext().getSelf()));
      return this;
    }
    if (connections.size() >= register.limit()) {
      register.replyTo().tell(new Admission(false, connections.size(), getContext().getSelf()));
      return passivateIfIdle();
    }
    connections.put(register.connection(), Boolean.TRUE);
    getContext().watchWith(register.connection(), new ConnectionGone(register.connection()));
    if (connections.size() == 1) {
      node.metrics().userOnline();
    }
    register.replyTo().tell(new Admission(true, connections.size(), getContext().getSelf()));
    return this;
  }

  private Behavior<Command> remove(ActorRef<Connection.Command> connection) {
    if (connections.remove(connection) != null) {
      getContext().unwatch(connection);
      if (connections.isEmpty()) {
        node.metrics().userOffline();
      }
    }
    return passivateIfIdle();
  }

  private Behavior<Command> onNotify(Notify notify) {
    for (ActorRef<Connection.Command> connection : connections.keySet()) {
      connection.tell(new Connection.Deliver(notify.frame()));
    }
    notify.replyTo().tell(new Delivered(connections.size()));
    return passivateIfIdle();
  }

  private Behavior<Command> onGetPresence(GetPresence get) {
    get.replyTo().tell(new UserPresence(userId, !connections.isEmpty(), connections.size()));
    return passivateIfIdle();
  }

  private Behavior<Command> passivateIfIdle() {
    if (connections.isEmpty() && !passivating) {
      passivating = true;
      shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
    }
    return this;
  }
}

package lms.realtime.room;

import java.time.Clock;
import lms.realtime.config.Settings;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.RoomName;
import lms.realtime.user.User;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * A room's first moments, before it serves: it takes back what a previous incarnation left (a
 * hand-off snapshot, its removals), and a {@code user:} room also waits for its user entity to hand
 * it the user's sockets. What comes meanwhile is stashed, up to a bound; past it, dropped, logged
 * and counted.
 */
final class RoomStartup {

  /**
   * What every room of a node is made with. {@code clock}: the wall clock for everything a room
   * decides by time (history TTL, removals, the re-join grace, timestamps), so a test can set it.
   */
  record Env(String name, ActorRef<ClusterSharding.ShardCommand> shard, ClusterSharding sharding, Settings settings,
      Metrics metrics, Clock clock) {}

  /** The user entity did not hand a {@code user:} room its sockets in time: it serves anyway. */
  enum OwnerTimeout implements Room.Command {
    INSTANCE
  }

  private final ActorContext<RoomInbox> ctx;
  private final TimerScheduler<RoomInbox> timers;
  private final StashBuffer<RoomInbox> stash;
  private final RoomSnapshots snapshots;
  private final Env env;
  private final long startedAt = System.nanoTime();
  private boolean askedMajority;

  private RoomStartup(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, StashBuffer<RoomInbox> stash,
      RoomSnapshots snapshots, Env env) {
    this.ctx = ctx;
    this.timers = timers;
    this.stash = stash;
    this.snapshots = snapshots;
    this.env = env;
  }

  /** Local first (most rooms were never handed off); then a majority, which overlaps the one the previous incarnation wrote to. */
  static Behavior<RoomInbox> create(Env env) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> Behaviors.withStash(env.settings().rooms().startingStash(), stash ->
        DistributedData.<RoomInbox, LWWMap<String, RoomSnapshots.Snapshot>>withReplicatorMessageAdapter(replicator -> {
          RoomSnapshots snapshots = new RoomSnapshots(replicator, DistributedData.get(ctx.getSystem()).selfUniqueAddress(),
              env.name(), env.settings().internals());
          snapshots.read(false);
          return new RoomStartup(ctx, timers, stash, snapshots, env).reading();
        }))));
  }

  private Behavior<RoomInbox> reading() {
    return Behaviors.receive(RoomInbox.class)
        .onMessage(RoomSnapshots.Read.class, this::onRead)
        .onAnyMessage(this::stashOrDrop)
        .build();
  }

  private Behavior<RoomInbox> onRead(RoomSnapshots.Read read) {
    RoomSnapshots.Found found = snapshots.found(read);
    RoomName parsed = RoomName.parse(env.name());
    boolean durable = parsed != null && env.settings().durable().isDurable(parsed.kind().prefix());
    // a durable room's state is in its journal: Distributed Data has at most its hubs (a hand-off's),
    // not worth a majority round trip before every durable room's start. A memory room without a
    // local snapshot asks a majority even when it found its removals here: the removals entry may
    // have spread long ago while the hand-off's snapshot, just written to a majority that need not
    // include this node, has not (NodeLossTest saw the room start a new epoch so, once in a loaded run)
    if (!durable && found.snapshot() == null && !askedMajority && clusterSize() > 1) {
      askedMajority = true;
      snapshots.read(true);
      return Behaviors.same();
    }
    if (found.snapshot() != null) {
      ctx.getLog().info("room {} taken over at {}/{}", env.name(), found.snapshot().epoch(), found.snapshot().seq());
    }
    if (durable) {
      return recovering(found, JournalLink.durable(ctx, timers, env.name(), env.settings(), env.metrics(), env.clock()));
    }
    return serve(new RoomActor(ctx, timers, snapshots, env, found, JournalLink.memory(ctx, timers, env.name(), env.settings()), null));
  }

  private Behavior<RoomInbox> serve(RoomActor room) {
    return room.owner() == null ? stash.unstashAll(room) : awaitingOwner(room);
  }

  /**
   * A durable room waits for its journal's recovery (its epoch, numbering, history, removals). A
   * journal that fails (the database does not answer) is started again after a backoff, while what
   * comes is stashed: the room cannot answer a join before it knows its epoch.
   */
  private Behavior<RoomInbox> recovering(RoomSnapshots.Found found, JournalLink journal) {
    return Behaviors.receive(RoomInbox.class)
        .onMessage(JournalLink.Recovered.class, recovered -> {
          if (recovered.seq() > 0) {
            // the durable twin of "taken over": when a moved or crashed room serves again (the kill drills read it)
            ctx.getLog().info("room {} recovered its journal at {}/{}, {} ms after it started", env.name(), recovered.epoch(),
                recovered.seq(), (System.nanoTime() - startedAt) / 1_000_000);
          }
          return serve(new RoomActor(ctx, timers, snapshots, env, found, journal, recovered));
        })
        .onMessage(JournalLink.Message.class, message -> {
          journal.handle(message);
          return Behaviors.same();
        })
        .onAnyMessage(this::stashOrDrop)
        .build();
  }

  /**
   * A {@code user:} room serves only once its user entity has handed it the user's sockets: they are
   * members from the start (a device publishes into its own room without joining it).
   */
  private Behavior<RoomInbox> awaitingOwner(RoomActor room) {
    timers.startSingleTimer(OwnerTimeout.INSTANCE, env.settings().internals().snapshotReadTimeout());
    return Behaviors.receive(RoomInbox.class)
        .onMessage(User.OwnSockets.class, sockets -> {
          timers.cancel(OwnerTimeout.INSTANCE);
          room.owner().take(sockets);
          return stash.unstashAll(room);
        })
        .onMessageEquals(OwnerTimeout.INSTANCE, () -> stash.unstashAll(room))
        .onAnyMessage(this::stashOrDrop)
        .build();
  }

  private Behavior<RoomInbox> stashOrDrop(RoomInbox m) {
    if (!stash.isFull()) {
      stash.stash(m);
      return Behaviors.same();
    }
    long dropped = env.metrics().stashDropped();
    if (dropped == 1 || dropped % 10_000 == 0) {
      ctx.getLog().warn("room {} is starting and holds {} messages already: dropped a {} ({} dropped on this node so far)",
          env.name(), stash.size(), m.getClass().getSimpleName(), dropped);
    }
    return Behaviors.same();
  }

  private int clusterSize() {
    int up = 0;
    for (Member m : Cluster.get(ctx.getSystem()).state().getMembers()) {
      if (m.status() == MemberStatus.up()) {
        up++;
      }
    }
    return up;
  }
}

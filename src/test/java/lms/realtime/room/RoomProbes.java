package lms.realtime.room;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.testkit.OneNodeCluster;
import lms.realtime.testkit.TestClock;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * A room's actor alone, as its shard starts it, in a cluster of one: probes stand in for its shard
 * (which it asks to passivate), its members' hubs and sockets; a {@link TestClock} is its clock.
 * For the room's actor-level tests.
 */
final class RoomProbes implements AutoCloseable {
  final ActorTestKit kit;
  final Settings settings;
  final Metrics metrics = new Metrics(() -> 0);
  final TestClock clock = new TestClock();
  final TestProbe<ClusterSharding.ShardCommand> shard;

  RoomProbes(String name, Map<String, Object> overrides) {
    kit = OneNodeCluster.start(name, overrides);
    settings = OneNodeCluster.settings(kit);
    shard = kit.createTestProbe(ClusterSharding.ShardCommand.class);
  }

  @Override
  public void close() {
    kit.shutdownTestKit();
  }

  /** A room of this name, starting as its shard would start it. */
  ActorRef<RoomInbox> room(String name) {
    return kit.spawn(RoomStartup.create(
        new RoomStartup.Env(name, shard.ref(), ClusterSharding.get(kit.system()), settings, metrics, clock)));
  }

  TestProbe<Hub.Command> hub() {
    return kit.createTestProbe(Hub.Command.class);
  }

  TestProbe<MemberInbox> socket() {
    return kit.createTestProbe(MemberInbox.class);
  }

  /** A join of {@code user} (an instructor: sees presence) with a token issued at {@code iat} (epoch seconds). */
  static Room.Join join(TestProbe<MemberInbox> socket, TestProbe<Hub.Command> hub, String user, String id, long iat) {
    return new Room.Join(socket.ref(), hub.ref(), id, user, user, "instructor", true, iat, null, false);
  }

  /** The hub's next message of this type; the presence diffs before it are passed over. */
  static <T extends Hub.Command> T next(TestProbe<Hub.Command> hub, Class<T> type) {
    List<Hub.Command> seen = hub.fishForMessage(Duration.ofSeconds(5), m -> type.isInstance(m) ? FishingOutcomes.complete()
        : m instanceof Hub.Broadcast b && b.presenceWatchersOnly() ? FishingOutcomes.continueAndIgnore()
        : FishingOutcomes.fail("expected a " + type.getSimpleName() + ", got " + m));
    return type.cast(seen.get(seen.size() - 1));
  }

  long nowSeconds() {
    return clock.millis() / 1000;
  }
}

package lms.realtime.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * An {@link ActorTestKit} whose system is a cluster of one node, up, with the engine's settings
 * (and {@code overrides}): what an actor-level test needs when the actor under test uses Cluster
 * Sharding or Distributed Data (a room, a hub's re-join). Nothing of the engine is started in it:
 * the test spawns the actors it drives, with probes for everything around them.
 */
public final class OneNodeCluster {
  private OneNodeCluster() {}

  public static ActorTestKit start(String name, Map<String, Object> overrides) {
    Config config = TestNode.config(overrides);
    ActorTestKit kit = ActorTestKit.create(name, config);
    Cluster cluster = Cluster.get(kit.system());
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    kit.createTestProbe().awaitAssert(Duration.ofSeconds(15), () -> {
      assertEquals(MemberStatus.up(), cluster.selfMember().status());
      return null;
    });
    return kit;
  }

  /** The engine's settings as the kit's system has them. */
  public static lms.realtime.config.Settings settings(ActorTestKit kit) {
    return lms.realtime.config.Settings.from(kit.system().settings().config());
  }
}

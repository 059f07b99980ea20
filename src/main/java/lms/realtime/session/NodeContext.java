package lms.realtime.session;

import java.util.function.BooleanSupplier;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hubs;
import lms.realtime.fanout.LocalSockets;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.Json;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * What the sockets, the HTTP side and the transports of one node share: settings, token checks,
 * this node's sockets and their per-IP counts, hubs, metrics, sharding, whether the durable rooms'
 * database answers ({@code journalUp}: always true with no durable rooms), the sockets' clocks and
 * timers ({@code time}). The entities (rooms, users) get only what they use (settings, metrics), not this.
 * The token checks ({@code verifier}) read the wall clock of {@code time}, whatever verifier is given.
 */
public record NodeContext(
    ActorSystem<?> system,
    Settings settings,
    TokenVerifier verifier,
    Json json,
    LocalSockets sockets,
    PerAddress perIp,
    Hubs hubs,
    Metrics metrics,
    ClusterSharding sharding,
    BooleanSupplier journalUp,
    Demo demo,
    SocketTime time) {

  public NodeContext {
    // one time for a node's sockets and its token checks: a 401, a refreshed token and a 4001 agree
    verifier = verifier.on(time.wallClock());
  }

  /** Demo mode: the secret the node made for itself, or null when not in demo mode. */
  public record Demo(String secret) {}

  /** The same node, its sockets on another time (an actor-level test's, moved by hand). */
  public NodeContext withTime(SocketTime other) {
    return new NodeContext(system, settings, verifier, json, sockets, perIp, hubs, metrics, sharding, journalUp, demo, other);
  }

  public boolean isDemo() {
    return demo != null;
  }
}

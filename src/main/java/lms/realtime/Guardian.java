package lms.realtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.Hubs;
import lms.realtime.fanout.LocalSockets;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.protocol.Json;
import lms.realtime.room.Room;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.session.PerAddress;
import lms.realtime.session.SocketTime;
import lms.realtime.store.JournalStats;
import lms.realtime.transport.Transport;
import lms.realtime.transport.netty.NettyTransport;
import lms.realtime.transport.pekkohttp.PekkoHttpTransport;
import lms.realtime.user.User;
import org.apache.pekko.Done;
import org.apache.pekko.actor.AddressFromURIString;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.sharding.typed.HashCodeMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.JoinSeedNodes;
import org.apache.pekko.cluster.typed.SelfUp;
import org.apache.pekko.cluster.typed.Subscribe;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.apache.pekko.pattern.Patterns;

/**
 * Starts one node: joins the cluster (itself when no seed nodes are set: a cluster of one runs the
 * same code as many), starts the hubs and the sharded entities, binds the transport, and wires the graceful
 * shutdown. Readiness comes only once the binding, membership and sharding all answer.
 */
public final class Guardian {
  /** What the node reports once bound. */
  public record Started(NodeContext node, Transport.Binding binding, AtomicBoolean ready) {}

  private enum Msg {
    SELF_UP
  }

  private Guardian() {}

  public static Behavior<Object> create(Settings settings, TokenVerifier verifier, NodeContext.Demo demo, BooleanSupplier journalUp,
      CompletableFuture<Started> started) {
    return Behaviors.setup(ctx -> {
      joinCluster(ctx, settings);
      LocalSockets sockets = new LocalSockets();
      Metrics metrics = new Metrics(sockets::open);
      for (Handshake.Kind kind : Handshake.Kind.values()) {
        metrics.connectionKind(kind.label(), () -> sockets.open(kind.label()));
      }
      if (settings.durable().any()) {
        metrics.journalUp(journalUp);
        JournalStats journal = JournalStats.get(ctx.getSystem().classicSystem());
        metrics.journalCommits(journal, JournalStats::commits, JournalStats::rows);
      }
      List<ActorRef<Hub.Command>> hubs = new ArrayList<>();
      for (int i = 0; i < settings.cluster().hubShards(); i++) {
        // Resume, not stop: a hub's subscriptions are its whole value, and a failure in one
        // delivery must not end fan-out for its slice of the node's rooms.
        Settings.Internals inner = settings.internals();
        hubs.add(ctx.spawn(Behaviors.supervise(Hub.create(sockets, metrics, Room.KEY, inner.rejoinBatch(), inner.rejoinRetry(),
            inner.hubHeldMax())).onFailure(SupervisorStrategy.resume()), "hub-" + i));
      }
      NodeContext node = new NodeContext(ctx.getSystem(), settings, verifier, new Json(settings), sockets, new PerAddress(),
          new Hubs(List.copyOf(hubs)), metrics, ClusterSharding.get(ctx.getSystem()), journalUp, demo,
          SocketTime.system(ctx.getSystem()));
      // The replicator the rooms' hand-off snapshots go through must run on every node from the
      // start: it is started by its first use, and a node whose rooms had not used it yet dropped
      // the others' writes and reads (a rolling restart then lost a room's epoch).
      DistributedData.get(ctx.getSystem());
      Room.init(ctx.getSystem(), settings, metrics);
      User.init(ctx.getSystem(), metrics);

      AtomicBoolean ready = new AtomicBoolean();
      Transport transport = settings.transport().equals(Settings.NETTY)
          ? new NettyTransport(node, ready)
          : new PekkoHttpTransport(node, ready);
      transport.bind()
          .whenComplete((binding, failure) -> {
            if (failure != null) {
              started.completeExceptionally(failure);
              ctx.getSystem().terminate();
            } else {
              addShutdownTasks(node, binding, ready);
              started.complete(new Started(node, binding, ready));
            }
          });
      ActorRef<SelfUp> selfUp = ctx.messageAdapter(SelfUp.class, e -> Msg.SELF_UP);
      Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(selfUp, SelfUp.class));
      return Behaviors.receive(Object.class)
          .onMessageEquals(Msg.SELF_UP, () -> {
            probeSharding(node, started, ready);
            return Behaviors.same();
          })
          .build();
    });
  }

  private static void joinCluster(ActorContext<Object> ctx, Settings settings) {
    Cluster cluster = Cluster.get(ctx.getSystem());
    if (settings.cluster().managementPort() > 0) {
      PekkoManagement.get(ctx.getSystem().classicSystem()).start();
    }
    if (settings.cluster().seedNodes().isEmpty()) {
      cluster.manager().tell(Join.create(cluster.selfMember().address()));
    } else {
      List<org.apache.pekko.actor.Address> seeds = new ArrayList<>();
      for (String hostPort : settings.cluster().seedNodes()) {
        seeds.add(AddressFromURIString.parse("pekko://" + ctx.getSystem().name() + "@" + hostPort));
      }
      cluster.manager().tell(new JoinSeedNodes(seeds));
    }
  }

  /**
   * Ready once a message has made the round trip through sharding to an entity of every user shard
   * and back. One probe was not enough (issue 12): on a fresh cluster the first handshakes each
   * placed a shard, one coordinator write at a time, and the first ones waited past the ask timeout
   * (10 of a burst of 1,500 got 503). Placing them all before ready costs a second at start.
   */
  private static void probeSharding(NodeContext node, CompletableFuture<Started> started, AtomicBoolean ready) {
    List<CompletableFuture<User.UserPresence>> probes = new ArrayList<>();
    for (String entity : oneEntityPerShard(node.system().settings().config().getInt("pekko.cluster.sharding.number-of-shards"))) {
      probes.add(node.sharding().entityRefFor(User.KEY, entity)
          .<User.UserPresence>ask(User.GetPresence::new, node.settings().internals().readinessProbeTimeout()).toCompletableFuture());
    }
    CompletableFuture.allOf(probes.toArray(CompletableFuture[]::new))
        .thenCombine(started, (p, s) -> p)
        .whenComplete((p, failure) -> {
          if (failure == null) {
            ready.set(true);
          } else {
            node.system().scheduler().scheduleOnce(node.settings().internals().readinessProbeRetry(),
                () -> probeSharding(node, started, ready), node.system().executionContext());
          }
        });
  }

  /** Entity ids, one in each shard of sharding's default extractor. */
  static List<String> oneEntityPerShard(int shards) {
    HashCodeMessageExtractor<Object> extractor = new HashCodeMessageExtractor<>(shards);
    String[] byShard = new String[shards];
    int found = 0;
    for (int k = 0; found < shards; k++) {
      String id = "__readiness-probe-" + k;
      int shard = Integer.parseInt(extractor.shardId(id));
      if (byShard[shard] == null) {
        byShard[shard] = id;
        found++;
      }
    }
    return List.of(byShard);
  }

  /**
   * SIGTERM (or any CoordinatedShutdown): stop being ready, stop accepting, close every socket with
   * 1012 and its retry advice, and let sharding hand the rooms over at once: the hand-off does not
   * wait for slow closes (issue 12), only a moment for the close frames to leave. Sockets that have
   * not finished their close by then are dropped later, when the close grace is up or the cluster
   * has been left, whichever is later.
   */
  private static void addShutdownTasks(NodeContext node, Transport.Binding binding, AtomicBoolean ready) {
    CoordinatedShutdown cs = CoordinatedShutdown.get(node.system());
    long[] closeDeadline = {0};
    cs.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "lms-not-ready", () -> {
      ready.set(false);
      return CompletableFuture.completedFuture(Done.getInstance());
    });
    cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "lms-unbind", () -> binding.unbind().thenApply(x -> Done.getInstance()));
    cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "lms-close-sockets", () -> {
      node.sockets().closeAll(CloseCodes.RESTARTING, "engine restarting");
      long now = System.nanoTime();
      closeDeadline[0] = now + node.settings().shutdownCloseGrace().toNanos();
      return waitForSockets(node, Math.min(closeDeadline[0], now + node.settings().internals().shutdownCloseWait().toNanos()));
    });
    cs.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "lms-drop-sockets", () ->
        waitForSockets(node, closeDeadline[0])
            .thenCompose(d -> binding.terminate(Duration.ofSeconds(1)))
            .thenApply(x -> Done.getInstance()));
  }

  private static CompletionStage<Done> waitForSockets(NodeContext node, long deadlineNanos) {
    if (node.sockets().open() == 0 || System.nanoTime() > deadlineNanos) {
      return CompletableFuture.completedFuture(Done.getInstance());
    }
    return Patterns.after(Duration.ofMillis(50), node.system().classicSystem().scheduler(),
        node.system().executionContext(), () -> waitForSockets(node, deadlineNanos));
  }
}

package lms.realtime;

import com.typesafe.config.Config;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.BooleanSupplier;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.config.Settings;
import lms.realtime.session.NodeContext;
import lms.realtime.store.Database;
import lms.realtime.store.Probe;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;

/** A running node: what {@link Main} starts, and what tests start on ephemeral ports. */
public final class Node {
  public static final String SYSTEM_NAME = "lms-realtime";

  static {
    commonPoolParallelism();
  }

  /**
   * On a machine with two cores the JDK's common pool gets parallelism 1, and CompletableFuture then
   * runs every async callback on a new thread (ThreadPerTaskExecutor). Scala's future converters make
   * {@code thenApply}/{@code handle} async, so every ask from Java paid a thread start: handshakes ran
   * at a few hundred per second. Set before anything touches the common pool.
   */
  public static void commonPoolParallelism() {
    String key = "java.util.concurrent.ForkJoinPool.common.parallelism";
    if (System.getProperty(key) == null) {
      System.setProperty(key, Integer.toString(Math.max(4, Runtime.getRuntime().availableProcessors())));
    }
  }

  private final ActorSystem<Object> system;
  private final Guardian.Started started;

  private Node(ActorSystem<Object> system, Guardian.Started started) {
    this.system = system;
    this.started = started;
  }

  /**
   * Starts a node from a fully resolved config. Without a token key it refuses to start, unless
   * {@code demo}: then it makes a secret for itself.
   */
  public static CompletionStage<Node> start(Config config, boolean demo) {
    Settings settings = Settings.from(config);
    NodeContext.Demo demoMode = null;
    String demoSecret = null;
    if (settings.jwt().secret().isEmpty() && settings.jwt().publicKeyFile().isEmpty() && !demo) {
      throw new IllegalStateException(
          "No token key configured: set LMS_JWT_SECRET (HS256) or LMS_JWT_PUBLIC_KEY_FILE (RS256/ES256),"
              + " or start with --demo to try the engine with a self-made secret.");
    }
    if (demo) {
      // Demo tokens are always signed with a secret made up here, never with a configured one: a
      // demo node must not mint tokens (service tokens above all) that other engines or services
      // sharing LMS_JWT_SECRET would accept. This node accepts both.
      byte[] bytes = new byte[48];
      new SecureRandom().nextBytes(bytes);
      demoSecret = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
      demoMode = new NodeContext.Demo(demoSecret);
    }
    TokenVerifier verifier;
    try {
      verifier = TokenVerifier.fromSettings(settings, demoSecret);
    } catch (Exception e) {
      throw new IllegalStateException("Cannot read the token key: " + e.getMessage(), e);
    }
    // Checked before anything starts: a port in use found by Pekko or Netty is a page of stack trace
    // in the log before the line that names the setting (issue 15).
    requireFree(settings.http().host(), settings.http().port(), "the HTTP port", "LMS_HTTP_PORT");
    requireFree(settings.cluster().host(), settings.cluster().port(), "the cluster port", "LMS_CLUSTER_PORT");
    Config withJournal = config;
    BooleanSupplier journalUp = () -> true;
    Probe probe = null;
    if (settings.durable().any()) {
      refuseClusterWithoutSharedDatabase(settings);
      Database database = Database.of(settings.durable());
      database.prepare();
      withJournal = database.pekkoConfig().withFallback(config);
      probe = Probe.start(database, settings.internals().dbProbeInterval());
      journalUp = probe;
    }
    CompletableFuture<Guardian.Started> started = new CompletableFuture<>();
    ActorSystem<Object> system;
    try {
      system = ActorSystem.create(Guardian.create(settings, verifier, demoMode, journalUp, started), SYSTEM_NAME, withJournal);
    } catch (RuntimeException e) {
      if (probe != null) {
        probe.close();
      }
      throw inUse(e, "the cluster port " + settings.cluster().host() + ":" + settings.cluster().port() + " is in use (LMS_CLUSTER_PORT)");
    }
    Probe running = probe;
    system.getWhenTerminated().thenRun(() -> {
      if (running != null) {
        running.close();
      }
      // a guardian that fails (bad config, port taken) ends the system: fail the start at once
      started.completeExceptionally(new IllegalStateException("the node stopped while starting"));
    });
    return started.handle((s, failure) -> {
      if (failure != null) {
        Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        throw inUse(cause, "the HTTP port " + settings.http().host() + ":" + settings.http().port() + " is in use (LMS_HTTP_PORT)");
      }
      return new Node(system, s);
    });
  }

  private static final String TWO_PORTS = "; a second node on one host needs both LMS_HTTP_PORT and LMS_CLUSTER_PORT changed";

  /** Fails the start with one line when {@code host:port} cannot be bound now (port 0: any free one, not checked). */
  private static void requireFree(String host, int port, String what, String setting) {
    if (port <= 0) {
      return;
    }
    try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
      probe.setReuseAddress(true);
      probe.bind(new java.net.InetSocketAddress(host, port));
    } catch (java.io.IOException e) {
      throw new IllegalStateException(what + " " + host + ":" + port + " is in use (" + setting + ")" + TWO_PORTS);
    }
  }

  /**
   * A start that failed: when a port was taken after all (between the check and the bind), one line
   * naming the setting, else the failure as it was.
   */
  private static RuntimeException inUse(Throwable failure, String message) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      // java.net.BindException, or Netty epoll's NativeIoException "bind(..) failed ... Address already in use"
      if (t instanceof java.net.BindException || String.valueOf(t.getMessage()).contains("Address already in use")) {
        return new IllegalStateException(message + TWO_PORTS);
      }
    }
    return failure instanceof RuntimeException r ? r : new IllegalStateException(failure.getMessage(), failure);
  }


  /**
   * Durable rooms on several nodes need one database they all reach: an embedded one per node would
   * give a room that moves a journal of its own on each node, with its epoch and events split.
   */
  private static void refuseClusterWithoutSharedDatabase(Settings settings) {
    String self = settings.cluster().host() + ":" + settings.cluster().port();
    boolean others = settings.cluster().seedNodes().stream().anyMatch(seed -> !seed.equals(self));
    if (others && settings.durable().dbUrl().isEmpty()) {
      throw new IllegalStateException("durable rooms (LMS_DURABLE_ROOMS=" + String.join(",", settings.durable().kinds())
          + ") on a cluster need a database every node shares: set LMS_DB_URL (PostgreSQL), LMS_DB_USER and LMS_DB_PASSWORD,"
          + " or LMS_DURABLE_ROOMS= (empty) to keep every room in memory");
    }
  }

  public int httpPort() {
    return started.binding().localAddress().getPort();
  }

  public boolean isReady() {
    return started.ready().get();
  }

  public NodeContext context() {
    return started.node();
  }

  public ActorSystem<Object> system() {
    return system;
  }

  /** Stops the node as SIGTERM would: 1012 to every socket, shards handed over, system terminated. */
  public CompletionStage<Done> stop() {
    return CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason());
  }

  /** Waits until the node is ready to take traffic. */
  public Node awaitReady(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!isReady()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("node not ready after " + timeout);
      }
      Thread.sleep(20);
    }
    return this;
  }
}

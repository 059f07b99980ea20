package lms.realtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import lms.realtime.config.Settings;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** Parses arguments, loads the config, starts a node. Everything else is in {@link Guardian}. */
public final class Main {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  static final String USAGE = String.join("\n",
      "usage: java -jar lms-realtime.jar [--demo] [--help]",
      "       java -jar lms-realtime.jar --mint-token USER [options]   (--mint-token --help for the options)",
      "",
      "  --demo         try it: the node makes up a token secret, serves the demo page at http://localhost:8080/",
      "                 and mints demo tokens (listens on 127.0.0.1 unless LMS_HTTP_HOST is set; never in production)",
      "  --mint-token   print a token signed with LMS_JWT_SECRET, to try a cluster without the platform",
      "  --help         this text",
      "",
      "Settings come from config/application.conf (inside the jar; -Dconfig.file=... for another) and from",
      "environment variables, among them:",
      "  LMS_JWT_SECRET or LMS_JWT_PUBLIC_KEY_FILE   the platform's token key (required without --demo)",
      "  LMS_HTTP_HOST, LMS_HTTP_PORT                where sockets and the API listen (0.0.0.0, 8080)",
      "  LMS_CLUSTER_HOST, LMS_CLUSTER_PORT          this node's cluster address (127.0.0.1, 7355); a second",
      "                                              node on one host needs both ports changed",
      "  LMS_SEED_NODES                              host:port of the cluster's nodes; empty: a cluster of one",
      "  LMS_ALLOWED_ORIGINS                         origins of pages that may open a socket",
      "  LMS_DURABLE_ROOMS, LMS_DATA_DIR, LMS_DB_URL durable rooms and their journal (docs/operations.md)",
      "Every setting: README.md, \"Settings\". Exit codes: 0 after SIGTERM, 1 when the node cannot start.");

  /**
   * Where the node listens: a demo node mints tokens for anyone who asks, so by default only this
   * machine can ask (127.0.0.1), unless {@code LMS_HTTP_HOST} says otherwise.
   */
  static String demoHost(boolean demo, String hostFromEnvironment, String configured) {
    return demo && hostFromEnvironment == null ? "127.0.0.1" : configured;
  }

  public static void main(String[] args) throws Exception {
    List<String> arguments = Arrays.asList(args);
    if (!arguments.isEmpty() && arguments.get(0).equals("--mint-token")) {
      if (arguments.contains("--help")) {
        System.out.println(MintToken.USAGE);
        return;
      }
      System.exit(MintToken.run(arguments.subList(1, arguments.size()), ConfigFactory.load(), System.out, System.err));
    }
    if (arguments.contains("--help") || arguments.contains("-h")) {
      System.out.println(USAGE);
      return;
    }
    for (String a : arguments) {
      if (!a.equals("--demo")) {
        System.err.println("lms-realtime: unknown argument " + a + "\n\n" + USAGE);
        System.exit(1);
      }
    }
    Node.commonPoolParallelism();
    boolean demo = arguments.contains("--demo");
    Config config =
        ConfigFactory.parseString(
                // a process exits when its node has shut down, with 0 after a SIGTERM
                "pekko.coordinated-shutdown.exit-jvm = on\npekko.coordinated-shutdown.exit-code = 0")
            .withFallback(ConfigFactory.load());
    String host = demoHost(demo, System.getenv("LMS_HTTP_HOST"), config.getString("lms.http.host"));
    config = ConfigFactory.parseMap(java.util.Map.of("lms.http.host", host)).withFallback(config);
    Node node;
    try {
      node = Node.start(config, demo).toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (IllegalStateException | ExecutionException e) {
      Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
      System.err.println("lms-realtime: " + cause.getMessage());
      // nothing started that needs a clean stop (the node never served); halt skips the shutdown
      // hooks, whose cluster-leave phases would only wait for a member that never joined
      Runtime.getRuntime().halt(1);
      return;
    }
    // SIGTERM runs the graceful shutdown and exits 0 (the JVM's own handler would exit 143).
    Signal.handle(new Signal("TERM"), sig -> CoordinatedShutdown.get(node.system()).runAll(SigTerm.INSTANCE));
    Settings settings = node.context().settings();
    if (demo) {
      String banner = "=".repeat(78);
      log.warn("\n{}\n DEMO MODE: this node mints tokens itself, signed with a secret it just made up\n"
              + " (never with LMS_JWT_SECRET: no other engine or service accepts them).\n"
              + " Anyone who can reach it can mint tokens at /demo/token. Never run --demo in production.\n"
              + " Open http://localhost:{}/ to try the live classroom.\n{}",
          banner, node.httpPort(), banner);
    }
    Settings.Cluster cluster = settings.cluster();
    log.info("lms-realtime listening on {}:{} (cluster {}:{}, seeds {})", settings.http().host(), node.httpPort(),
        cluster.host(), cluster.port(), cluster.seedNodes().isEmpty() ? "none: cluster of one" : cluster.seedNodes());
    node.awaitReady(Duration.ofSeconds(60));
    log.info("lms-realtime ready");
  }

  private static final class SigTerm implements CoordinatedShutdown.Reason {
    static final SigTerm INSTANCE = new SigTerm();

    @Override
    public String toString() {
      return "SIGTERM";
    }
  }
}

package lms.realtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import lms.realtime.config.Settings;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** Parses arguments, loads the config, starts a node. Everything else is in {@link Guardian}. */
public final class Main {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  public static void main(String[] args) throws Exception {
    Node.commonPoolParallelism();
    boolean demo = Arrays.asList(args).contains("--demo");
    Config config =
        ConfigFactory.parseString(
                // a process exits when its node has shut down, with 0 after a SIGTERM
                "pekko.coordinated-shutdown.exit-jvm = on\npekko.coordinated-shutdown.exit-code = 0")
            .withFallback(ConfigFactory.load());
    Node node;
    try {
      node = Node.start(config, demo).toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (IllegalStateException e) {
      System.err.println("lms-realtime: " + e.getMessage());
      System.exit(1);
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
    log.info("lms-realtime listening on {}:{} (cluster {}:{}, seeds {})", settings.httpHost(), node.httpPort(),
        settings.clusterHost(), settings.clusterPort(), settings.seedNodes().isEmpty() ? "none: cluster of one" : settings.seedNodes());
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

package lms.realtime.testkit;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real PostgreSQL server of this test's own (Debian's {@code postgresql} package, which
 * {@code .ci/run} installs): a fresh cluster made by {@code initdb} in a temporary directory,
 * {@code postgres} started on a free loopback port, stopped (fast shutdown: the database is lost to
 * its clients) and started again on the same data, and removed at the end. As root it runs as the
 * {@code postgres} user (initdb refuses root), through {@code setpriv}, which execs: the process is
 * the postmaster itself, so it is stopped by its own PID.
 */
public final class PgServer implements AutoCloseable {
  public final int port = TestNode.freePort();
  private final Path bin;
  private final Path dir;
  private Process process;

  private PgServer(Path bin, Path dir) {
    this.bin = bin;
    this.dir = dir;
  }

  /** The newest installed server's bin directory, or null when PostgreSQL is not installed. */
  static Path binaries() {
    File[] versions = new File("/usr/lib/postgresql").listFiles();
    if (versions == null) {
      return null;
    }
    return Arrays.stream(versions).map(File::toPath).filter(p -> Files.isExecutable(p.resolve("bin/postgres")))
        .max(Comparator.comparing(p -> Integer.parseInt(p.getFileName().toString().replaceAll("\\D", "0")))).map(p -> p.resolve("bin"))
        .orElse(null);
  }

  public static boolean available() {
    return binaries() != null;
  }

  /** A new database cluster, started. */
  public static PgServer start() throws Exception {
    Path bin = binaries();
    if (bin == null) {
      throw new IllegalStateException("PostgreSQL is not installed (apt-get install -y postgresql)");
    }
    Path dir = Files.createTempDirectory("lms-pg-");
    PgServer pg = new PgServer(bin, dir);
    if (isRoot()) {
      run(List.of("chown", "postgres:postgres", dir.toString()));
    }
    run(pg.asPostgres(bin.resolve("initdb").toString(), "-D", dir.resolve("data").toString(), "-A", "trust", "-U", "postgres",
        "-E", "UTF8", "--no-sync"));
    pg.startServer();
    return pg;
  }

  public String url() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
  }

  /** Starts the server on its data (again, after {@link #stop}); returns once it takes connections. */
  public void startServer() throws Exception {
    ProcessBuilder pb = new ProcessBuilder(asPostgres(bin.resolve("postgres").toString(), "-D", dir.resolve("data").toString(),
        "-p", Integer.toString(port), "-k", dir.toString(), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100"))
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/postgres-" + port + ".log")));
    process = pb.start();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      try (var c = DriverManager.getConnection(url(), "postgres", "")) {
        return;
      } catch (Exception notYet) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          throw new IllegalStateException("postgres did not start on port " + port + " (see target/postgres-" + port + ".log)", notYet);
        }
        Thread.sleep(100);
      }
    }
  }

  /** Starts the server again if it is stopped: after a test that stopped it failed before it started it. */
  public void ensureRunning() throws Exception {
    if (process == null || !process.isAlive()) {
      startServer();
    }
  }

  /** Fast shutdown (SIGINT): every client connection is cut, as when a database server goes away. */
  public void stop() throws Exception {
    if (process != null && process.isAlive()) {
      new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start().waitFor();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  @Override
  public void close() throws Exception {
    stop();
    run(List.of("rm", "-rf", dir.toString()));
  }

  private List<String> asPostgres(String... command) {
    List<String> argv = new ArrayList<>();
    if (isRoot()) {
      argv.addAll(List.of("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"));
    }
    argv.addAll(List.of(command));
    return argv;
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }

  private static void run(List<String> argv) throws Exception {
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", argv) + " failed: " + out);
    }
  }
}

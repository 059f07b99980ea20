package lms.realtime.testkit;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs a Node.js suite (the client's in clients/js, the API documents' check in docs/check) as a
 * child process from a JUnit test, so that {@code mvn -B test} runs them too: output streamed to the test's stdout line by line, a timeout that
 * ends the whole process tree, and preconditions that fail in CI but skip on a developer's machine.
 */
public final class NodeSuite {

  /** What a run left behind: exit code (null when it timed out) and every line it printed. */
  public record Result(Integer exitCode, List<String> lines, Duration took) {
    public String tail(int n) {
      return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }
  }

  private NodeSuite() {}

  /** The repository's root: the directory holding pom.xml and clients/js. */
  public static Path projectDir() {
    for (String candidate : new String[] {System.getProperty("basedir"), System.getProperty("user.dir")}) {
      if (candidate == null || candidate.isEmpty()) {
        continue;
      }
      Path dir = Paths.get(candidate).toAbsolutePath();
      if (Files.isDirectory(dir.resolve("clients/js"))) {
        return dir;
      }
    }
    return fail("cannot find clients/js from basedir=" + System.getProperty("basedir") + " or user.dir=" + System.getProperty("user.dir"));
  }

  /** An executable called {@code name} on PATH. */
  public static Optional<Path> onPath(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path p = Paths.get(dir, name);
      if (Files.isRegularFile(p) && Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  public static boolean inCi() {
    String ci = System.getenv("CI");
    return ci != null && !ci.isEmpty();
  }

  /**
   * A missing precondition: in CI (env {@code CI} set) the test fails, since {@code .ci/run} should have
   * installed it; elsewhere it is skipped with how to install it.
   */
  public static void require(boolean present, String what, String ciInstalls, String howToInstall) {
    if (present) {
      return;
    }
    if (inCi()) {
      fail(what + " is missing; .ci/run should have installed it (" + ciInstalls + ")");
    }
    String message = what + " is missing, so this suite is skipped. To run it: " + howToInstall;
    System.out.println("SKIPPED: " + message); // surefire's console shows output, not assumption messages
    Assumptions.assumeTrue(false, message);
  }

  /** {@code name} (node, npm) of Node.js {@code minVersion} or later on PATH, {@link #require}d. */
  public static Path requireTool(String name, String minVersion) {
    Optional<Path> tool = onPath(name);
    require(tool.isPresent(), name + " (Node.js >= " + minVersion + ") on PATH", "apt-get install -y nodejs npm",
        "install Node.js >= " + minVersion + " with npm (e.g. apt-get install -y nodejs npm)");
    return tool.get();
  }

  /** The {@code npm ci} of {@code dir} (from the project's root) holds each of {@code packages}, {@link #require}d. */
  public static void requireInstalled(String dir, String... packages) {
    for (String p : packages) {
      require(Files.isDirectory(projectDir().resolve(dir).resolve("node_modules").resolve(p)), dir + "/node_modules/" + p,
          "npm ci --no-audit --no-fund in " + dir, "cd " + dir + " && npm ci --no-audit --no-fund");
    }
  }

  /**
   * Runs {@code command} in {@code dir}; each line of its stdout and stderr goes to System.out with
   * {@code prefix}. After {@code timeout} the process and all its descendants are ended (SIGTERM,
   * then SIGKILL after 10 s) and the result has a null exit code.
   */
  public static Result run(List<String> command, Path dir, Map<String, String> env, List<String> unsetEnv, String prefix, Duration timeout)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
    pb.redirectInput(ProcessBuilder.Redirect.PIPE);
    unsetEnv.forEach(pb.environment()::remove);
    pb.environment().putAll(env);
    System.out.println(prefix + "$ (cd " + dir + " && " + String.join(" ", command) + ")");
    long t0 = System.nanoTime();
    Process process = pb.start();
    process.getOutputStream().close(); // no input
    List<String> lines = new ArrayList<>();
    // Never write to this JVM's native stdout directly: surefire talks to its fork through it.
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (lines) {
            lines.add(line);
          }
          System.out.println(prefix + line);
        }
      } catch (IOException e) {
        System.out.println(prefix + "(output ended: " + e + ")");
      }
    }, "node-suite-output");
    pump.setDaemon(true);
    pump.start();
    Integer exit = null;
    if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      exit = process.exitValue();
    } else {
      System.out.println(prefix + "(timed out after " + timeout.toSeconds() + " s: ending the process tree)");
      destroyTree(process);
    }
    pump.join(10_000); // the pipe may stay open a little longer if a grandchild holds it
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    synchronized (lines) {
      return new Result(exit, List.copyOf(lines), took);
    }
  }

  /** SIGTERM to the process and every descendant (runners clean up on SIGTERM), SIGKILL to what is left after 10 s. */
  public static void destroyTree(Process process) throws InterruptedException {
    List<ProcessHandle> tree = new ArrayList<>(process.descendants().toList());
    tree.add(0, process.toHandle());
    tree.forEach(ProcessHandle::destroy);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline && tree.stream().anyMatch(ProcessHandle::isAlive)) {
      Thread.sleep(100);
    }
    // Descendants started meanwhile (or reparented ones still known by handle) go too.
    tree.addAll(process.descendants().toList());
    for (ProcessHandle h : tree) {
      if (h.isAlive()) {
        h.destroyForcibly();
      }
    }
    process.waitFor(10, TimeUnit.SECONDS);
  }
}

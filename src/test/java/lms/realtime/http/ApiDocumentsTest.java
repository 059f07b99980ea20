package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.net.URL;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The API documents (contract §9: {@code GET /docs/openapi.yaml}, OpenAPI 3.1, and {@code GET
 * /docs/asyncapi.yaml}, AsyncAPI 3.0) as a real node serves them, checked by docs/check/check.mjs
 * with the real parsers from npm: valid (no error-level diagnostic), complete against the code
 * (routes, frame types, error and close codes), and their examples answered as written by this node
 * (HTTP examples, socket examples on real sockets) and, for the demo-only routes, by a node started
 * with {@code --demo}. Needs node and the {@code npm ci} of docs/check, which .ci/run installs: with
 * {@code CI} set a missing one fails the test, elsewhere it is skipped.
 */
class ApiDocumentsTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(90);
  private static final Pattern SUMMARY = Pattern.compile("^api documents: (\\d+) checks ok, (\\d+) failed, (\\d+) not replayed$");
  private static final List<String> PACKAGES =
      List.of("@apidevtools/swagger-parser", "@asyncapi/parser", "ajv", "ws", "yaml");

  @Test
  void theServedDocumentsAreValidCompleteAndTheirExamplesHold() throws Exception {
    Path checkDir = projectDir().resolve("docs/check");
    Optional<Path> node = onPath("node");
    require(node.isPresent(), "node (Node.js >= 20.16) on PATH", "apt-get install -y nodejs npm",
        "install Node.js >= 20.16 with npm");
    for (String p : PACKAGES) {
      require(Files.isDirectory(checkDir.resolve("node_modules").resolve(p)), "docs/check/node_modules/" + p,
          "npm ci --no-audit --no-fund in docs/check", "cd docs/check && npm ci --no-audit --no-fund");
    }
    Path resources = resourcesRoot();

    // a fresh node (the examples are one session's story, numbered from its start) and a --demo one
    try (TestNode platform = TestNode.start(); TestNode demo = TestNode.start(Map.of("lms.jwt.secret", ""), true)) {
      Map<String, String> env = Map.of(
          "LMS_URL", "http://127.0.0.1:" + platform.port,
          "LMS_DEMO_URL", "http://127.0.0.1:" + demo.port,
          "LMS_JWT_SECRET", Tokens.SECRET,
          "LMS_SERVICE_TOKEN", Tokens.service(),
          "LMS_SOURCE_DIR", projectDir().toString(),
          "LMS_RESOURCES_DIR", resources.toString(),
          "NO_COLOR", "1");
      Result r = run(List.of(node.get().toString(), "check.mjs"), checkDir, env);

      assertNotNull(r.exitCode(), "check.mjs did not finish within " + TIMEOUT.toSeconds() + " s; last lines:\n" + r.tail(40));
      Matcher summary = null;
      for (String line : r.lines()) {
        Matcher m = SUMMARY.matcher(line.strip());
        if (m.matches()) {
          summary = m;
        }
      }
      assertNotNull(summary, "check.mjs printed no summary; last lines:\n" + r.tail(40));
      List<String> failures = r.lines().stream().filter(l -> l.strip().startsWith("FAIL")).toList();
      assertEquals(0, Integer.parseInt(summary.group(2)), "the documents do not match the engine:\n" + String.join("\n", failures));
      assertEquals(0, r.exitCode(), "check.mjs exited with " + r.exitCode() + "; last lines:\n" + r.tail(40));
      assertTrue(Integer.parseInt(summary.group(1)) >= 100, "fewer checks than expected ran; last lines:\n" + r.tail(40));
    }
  }

  /** The root of the classpath directory that holds web/docs/ (target/classes): what the jar packs. */
  private static Path resourcesRoot() throws URISyntaxException {
    URL openapi = ApiDocumentsTest.class.getClassLoader().getResource("web/docs/openapi.yaml");
    URL asyncapi = ApiDocumentsTest.class.getClassLoader().getResource("web/docs/asyncapi.yaml");
    if (openapi == null || asyncapi == null) {
      fail("web/docs/openapi.yaml and web/docs/asyncapi.yaml are not on the classpath: pom.xml packs docs/*.yaml at process-resources");
    }
    if (!"file".equals(openapi.getProtocol())) {
      fail("web/docs/openapi.yaml is not in a directory of the classpath: " + openapi);
    }
    return Paths.get(openapi.toURI()).getParent().getParent().getParent();
  }

  // ------------------------------------------------------------------ running node (as NodeSuite does)

  private record Result(Integer exitCode, List<String> lines) {
    String tail(int n) {
      return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }
  }

  private static Path projectDir() {
    for (String candidate : new String[] {System.getProperty("basedir"), System.getProperty("user.dir")}) {
      if (candidate != null && !candidate.isEmpty() && Files.isRegularFile(Paths.get(candidate, "docs/check/check.mjs"))) {
        return Paths.get(candidate).toAbsolutePath();
      }
    }
    return fail("cannot find docs/check/check.mjs from basedir=" + System.getProperty("basedir") + " or user.dir=" + System.getProperty("user.dir"));
  }

  private static Optional<Path> onPath(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path p = dir.isEmpty() ? null : Paths.get(dir, name);
      if (p != null && Files.isRegularFile(p) && Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /** In CI (env CI set) a missing precondition fails, since .ci/run installs it; elsewhere the test is skipped. */
  private static void require(boolean present, String what, String ciInstalls, String howToInstall) {
    if (present) {
      return;
    }
    String ci = System.getenv("CI");
    if (ci != null && !ci.isEmpty()) {
      fail(what + " is missing; .ci/run should have installed it (" + ciInstalls + ")");
    }
    String message = what + " is missing, so the API documents are not checked. To check them: " + howToInstall;
    System.out.println("SKIPPED: " + message);
    Assumptions.assumeTrue(false, message);
  }

  /** Runs the command, each output line to System.out with a prefix (never to the fork's own stdout), ended after TIMEOUT. */
  private static Result run(List<String> command, Path dir, Map<String, String> env) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().putAll(env);
    System.out.println("[api-docs] $ (cd " + dir + " && " + String.join(" ", command) + ")");
    Process process = pb.start();
    process.getOutputStream().close();
    List<String> lines = new ArrayList<>();
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (lines) {
            lines.add(line);
          }
          System.out.println("[api-docs] " + line);
        }
      } catch (IOException e) {
        System.out.println("[api-docs] (output ended: " + e + ")");
      }
    }, "api-docs-output");
    pump.setDaemon(true);
    pump.start();
    Integer exit = null;
    if (process.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
      exit = process.exitValue();
    } else {
      System.out.println("[api-docs] (timed out after " + TIMEOUT.toSeconds() + " s)");
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
    pump.join(10_000);
    synchronized (lines) {
      return new Result(exit, List.copyOf(lines));
    }
  }
}

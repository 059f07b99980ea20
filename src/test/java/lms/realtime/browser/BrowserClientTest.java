package lms.realtime.browser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.Main;
import lms.realtime.testkit.NodeSuite;
import lms.realtime.testkit.TestNode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The browser suite of the JavaScript client (clients/js/browser-test/run.mjs: real Chromium, real
 * engine) as part of {@code mvn -B test}. The runner starts the engine itself from this test's
 * classpath (LMS_ENGINE_CMD), so no jar has to be built first; it needs node, the suite's
 * {@code npm ci} and Debian's chromium, which .ci/run installs.
 */
@Tag("browser")
class BrowserClientTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(340);
  private static final int MIN_TESTS = 10;
  private static final Pattern SUMMARY = Pattern.compile("^(\\d+) passed, 0 failed$");

  @Test
  void browserSuitePasses() throws Exception {
    Path suiteDir = NodeSuite.projectDir().resolve("clients/js/browser-test");
    Path node = NodeSuite.requireTool("node", "18");
    NodeSuite.requireInstalled("clients/js/browser-test", "playwright-core"); // no browser is downloaded
    NodeSuite.require(chromium() != null, "chromium (command -v chromium, or /usr/bin/chromium)", "apt-get install -y chromium",
        "apt-get install -y chromium (or set CHROMIUM=/path/to/a/chromium)");

    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    List<String> engine = List.of(java, "-Djava.util.concurrent.ForkJoinPool.common.parallelism=4", "-Xmx512m",
        // the engine's own logging (INFO) rather than the tests' logback-test.xml, for the runner's log tails
        "-Dlogback.configurationFile=logback.xml",
        "-Dlms.transport=" + TestNode.transport(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName());
    Map<String, String> env = Map.of(
        "LMS_ENGINE_CMD", new ObjectMapper().writeValueAsString(engine),
        "NO_COLOR", "1");
    // Whatever a developer's shell has set (LMS_JAR, LMS_TESTS, engine settings such as LMS_JWT_SECRET or
    // LMS_MANAGEMENT_PORT...) must not change what runs here: the runner alone sets the engine's LMS_*.
    List<String> unset = System.getenv().keySet().stream()
        .filter(k -> k.startsWith("LMS_") && !k.equals("LMS_DEBUG"))
        .toList();

    NodeSuite.Result r = NodeSuite.run(List.of(node.toString(), "run.mjs"), suiteDir, env, unset, "[browser-test] ", TIMEOUT);

    assertNotNull(r.exitCode(), "the browser suite did not finish within " + TIMEOUT.toSeconds() + " s; last lines:\n" + r.tail(40));
    Integer passed = null;
    for (String line : r.lines()) {
      Matcher m = SUMMARY.matcher(line.strip());
      if (m.matches()) {
        passed = Integer.valueOf(m.group(1));
      }
    }
    assertEquals(0, r.exitCode(), "run.mjs exited with " + r.exitCode() + "; last lines:\n" + r.tail(40));
    assertNotNull(passed, "no 'N passed, 0 failed' line in the output; last lines:\n" + r.tail(40));
    assertTrue(passed >= MIN_TESTS, "only " + passed + " browser tests passed, expected at least " + MIN_TESTS + "; last lines:\n" + r.tail(40));
  }

  /** What run.mjs would launch: $CHROMIUM, else chromium on PATH, else /usr/bin/chromium; null when none. */
  private static Path chromium() {
    String env = System.getenv("CHROMIUM");
    if (env != null && !env.isEmpty()) {
      Path p = Paths.get(env);
      return Files.isExecutable(p) ? p : null;
    }
    Optional<Path> onPath = NodeSuite.onPath("chromium");
    if (onPath.isPresent()) {
      return onPath.get();
    }
    Path usual = Paths.get("/usr/bin/chromium");
    return Files.isExecutable(usual) ? usual : null;
  }
}

package lms.realtime.browser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.testkit.NodeSuite;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Node unit tests of the JavaScript client (clients/js/test: the client against a stand-in for the
 * engine) as part of {@code mvn -B test}. Needs node, npm and the {@code npm ci} of clients/js, which
 * .ci/run installs.
 */
@Tag("process")
class ClientUnitTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  // node --test prints "# fail 0" with the TAP reporter (output not a terminal) and "ℹ fail 0" with the spec one.
  private static final Pattern FAIL = Pattern.compile("^(?:#|ℹ)\\s*fail (\\d+)$");
  private static final Pattern PASS = Pattern.compile("^(?:#|ℹ)\\s*pass (\\d+)$");

  @Test
  void clientUnitTestsPass() throws Exception {
    Path clientDir = NodeSuite.projectDir().resolve("clients/js");
    NodeSuite.requireTool("node", "18");
    Path npm = NodeSuite.requireTool("npm", "18");
    NodeSuite.requireInstalled("clients/js", "ws");

    Map<String, String> env = Map.of("NO_COLOR", "1", "npm_config_update_notifier", "false", "npm_config_fund", "false");
    NodeSuite.Result r = NodeSuite.run(List.of(npm.toString(), "test"), clientDir, env, List.of(), "[client-test] ", TIMEOUT);

    assertNotNull(r.exitCode(), "npm test did not finish within " + TIMEOUT.toSeconds() + " s; last lines:\n" + r.tail(40));
    Integer failed = null;
    Integer passed = null;
    for (String line : r.lines()) {
      Matcher f = FAIL.matcher(line.strip());
      if (f.matches()) {
        failed = Integer.valueOf(f.group(1));
      }
      Matcher p = PASS.matcher(line.strip());
      if (p.matches()) {
        passed = Integer.valueOf(p.group(1));
      }
    }
    assertEquals(0, r.exitCode(), "npm test exited with " + r.exitCode() + "; last lines:\n" + r.tail(40));
    assertNotNull(failed, "node --test printed no 'fail N' summary; last lines:\n" + r.tail(40));
    assertEquals(0, failed, "node --test reported failures; last lines:\n" + r.tail(40));
    assertTrue(passed != null && passed > 0, "node --test reported no passing test; last lines:\n" + r.tail(40));
  }
}

package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.testkit.NodeSuite;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
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
@Tag("process")
class ApiDocumentsTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(90);
  private static final Pattern SUMMARY = Pattern.compile("^api documents: (\\d+) checks ok, (\\d+) failed, (\\d+) not replayed$");
  private static final List<String> PACKAGES =
      List.of("@apidevtools/swagger-parser", "@asyncapi/parser", "ajv", "ws", "yaml");

  @Test
  void theServedDocumentsAreValidCompleteAndTheirExamplesHold() throws Exception {
    Path checkDir = NodeSuite.projectDir().resolve("docs/check");
    Path node = NodeSuite.requireTool("node", "20.16");
    NodeSuite.requireInstalled("docs/check", PACKAGES.toArray(String[]::new));
    Path resources = resourcesRoot();

    // a fresh node (the examples are one session's story, numbered from its start) and a --demo one
    try (TestNode platform = TestNode.start(); TestNode demo = TestNode.start(Map.of("lms.jwt.secret", ""), true)) {
      Map<String, String> env = Map.of(
          "LMS_URL", "http://127.0.0.1:" + platform.port,
          "LMS_DEMO_URL", "http://127.0.0.1:" + demo.port,
          "LMS_JWT_SECRET", Tokens.SECRET,
          "LMS_SERVICE_TOKEN", Tokens.service(),
          "LMS_SOURCE_DIR", NodeSuite.projectDir().toString(),
          "LMS_RESOURCES_DIR", resources.toString(),
          "NO_COLOR", "1");
      NodeSuite.Result r = NodeSuite.run(List.of(node.toString(), "check.mjs"), checkDir, env, List.of(), "[api-docs] ", TIMEOUT);

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
}

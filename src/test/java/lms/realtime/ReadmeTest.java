package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.testkit.NodeSuite;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README as a user meets it (issue 22, item 15): the mint snippet of "Integrate your platform",
 * run as printed, makes an access, a room and a service token that a real node accepts; the Performance
 * block shows the run that {@code bench/results/latest.json} records, its report and exactly the plots
 * that run wrote, and no plot of another run appears elsewhere in the README. (The block's full text
 * against the generator is checked by the bench module's own test, {@code lms.bench.ReadmeTest}.)
 */
@Tag("process")
class ReadmeTest {
  private static final Pattern PLOT = Pattern.compile("\\]\\((bench/results/[^)\\s]+\\.png)\\)");

  private static String readme() throws Exception {
    return Files.readString(NodeSuite.projectDir().resolve("README.md"));
  }

  @Test
  void theMintSnippetMakesTokensANodeAccepts(@TempDir Path dir) throws Exception {
    Path node = NodeSuite.requireTool("node", "18");
    String readme = readme();
    int start = readme.indexOf("```js\n// mint.mjs");
    assertTrue(start >= 0, "README has no ```js block opening with // mint.mjs");
    String snippet = readme.substring(start + "```js\n".length(), readme.indexOf("\n```\n", start));
    Path script = dir.resolve("mint.mjs");
    Files.writeString(script, snippet + "\nconsole.log(JSON.stringify({ accessToken, roomToken, serviceToken }));\n");
    NodeSuite.Result run = NodeSuite.run(List.of(node.toString(), script.toString()), dir,
        Map.of("LMS_JWT_SECRET", Tokens.SECRET), List.of(), "[mint.mjs] ", Duration.ofSeconds(30));
    assertEquals(0, run.exitCode(), run.tail(20));
    JsonNode tokens = WsClient.JSON.readTree(run.lines().get(run.lines().size() - 1));
    String service = tokens.get("serviceToken").asText();

    try (TestNode engine = TestNode.start(); WsClient ws = engine.connect(tokens.get("accessToken").asText())) {
      assertEquals("u17", ws.expect("welcome").get("userId").asText());
      ws.join("course:42");
      var published = engine.post("/api/v1/rooms/course:42/events", service, "{\"event\":\"lesson_added\",\"data\":{}}");
      assertEquals(202, published.statusCode(), published.body());
      assertEquals("lesson_added", ws.expect("event").get("event").asText());
      ws.send("{\"type\":\"join\",\"room\":\"live:class-7\",\"id\":\"live\",\"token\":\"" + tokens.get("roomToken").asText() + "\"}");
      assertEquals("live:class-7", ws.expect("joined").get("room").asText());
    }
  }

  @Test
  void thePerformanceBlockShowsTheRunOfLatestJson() throws Exception {
    Path root = NodeSuite.projectDir();
    JsonNode run = WsClient.JSON.readTree(root.resolve("bench/results/latest.json").toFile()).path("run");
    assertTrue(run.isObject(), "bench/results/latest.json has no run record");
    String readme = readme();
    int begin = readme.indexOf("<!-- perf:begin");
    int end = readme.indexOf("<!-- perf:end -->");
    assertTrue(begin >= 0 && end > begin, "README has no perf:begin / perf:end block");
    String block = readme.substring(begin, end);

    assertTrue(block.contains("`" + run.path("command").asText() + "`"), "the block does not name the command "
        + run.path("command") + " (run bench/run.sh --readme-only)");
    String report = "bench/results/" + run.path("report").asText();
    assertTrue(block.contains("(" + report + ")"), "the block does not link " + report + " (run bench/run.sh --readme-only)");
    assertTrue(Files.isRegularFile(root.resolve(report)), report + " is missing");

    Set<String> written = new TreeSet<>();
    run.path("plots").forEach(p -> written.add("bench/results/" + p.asText()));
    assertEquals(written, plots(block), "the block's plots are not the ones latest.json's run wrote (run bench/run.sh --readme-only)");
    written.forEach(p -> assertTrue(Files.isRegularFile(root.resolve(p)), p + " is missing"));
    assertEquals(Set.of(), plots(readme.substring(0, begin) + readme.substring(end)), "a bench plot outside the generated block");
  }

  private static Set<String> plots(String markdown) {
    Set<String> found = new TreeSet<>();
    Matcher m = PLOT.matcher(markdown);
    while (m.find()) {
      found.add(m.group(1));
    }
    return found;
  }
}

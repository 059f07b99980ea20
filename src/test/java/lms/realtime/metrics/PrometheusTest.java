package lms.realtime.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 15: the Grafana dashboard (docs/grafana/lms-realtime.json) over what a real Prometheus
 * (Debian's {@code prometheus}) collects with the scrape config of docs/prometheus/prometheus.yml
 * from a running node: every metric a panel queries is found by Prometheus's own query API, and
 * every panel's expression evaluates without an error.
 */
@Tag("process")
class PrometheusTest {
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
  static final Pattern METRIC = Pattern.compile("\\b((?:lms|jvm|process)_[a-z0-9_]+)\\b");

  static Path prometheus() {
    for (String dir : List.of("/usr/bin", "/usr/local/bin")) {
      Path p = Path.of(dir, "prometheus");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  static JsonNode query(int port, String expr) throws Exception {
    String url = "http://127.0.0.1:" + port + "/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8);
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    return WsClient.JSON.readTree(r.body());
  }

  @Test
  void everyMetricTheDashboardQueriesIsInPrometheus() throws Exception {
    // CI installs it (.ci/run); elsewhere the suite runs without it
    assumeTrue(prometheus() != null || System.getenv("CI") != null, "prometheus is not installed (apt-get install -y prometheus)");
    JsonNode dashboard = WsClient.JSON.readTree(new File("docs/grafana/lms-realtime.json"));
    List<String> expressions = new ArrayList<>();
    dashboard.get("panels").forEach(p -> p.get("targets").forEach(t -> expressions.add(t.get("expr").asText())));
    Set<String> metrics = new TreeSet<>();
    for (String e : expressions) {
      Matcher m = METRIC.matcher(e);
      while (m.find()) {
        metrics.add(m.group(1));
      }
    }
    assertTrue(metrics.size() >= 10, "the dashboard queries " + metrics);

    Path dir = Files.createTempDirectory(Path.of("target"), "prometheus-");
    try (TestNode node = TestNode.start()) {
      // what makes the labelled counters appear: a refused handshake, a socket the engine closes, an event delivered
      assertEquals(401, node.get("/ws?token=nope", null).statusCode());
      try (WsClient ws = node.open(Tokens.student("prom-1", "5"))) {
        ws.join("course:5");
        node.post("/api/v1/rooms/course:5/events", Tokens.service(), "{\"event\":\"e\"}");
        ws.await("event");
        ws.sendBinary(new byte[] {1});
        assertEquals(1003, ws.awaitClose(Duration.ofSeconds(10)).code());
      }
      String config = Files.readString(Path.of("docs/prometheus/prometheus.yml"))
          .replace("localhost:8080", "127.0.0.1:" + node.port)
          .replace("scrape_interval: 15s", "scrape_interval: 1s");
      Files.writeString(dir.resolve("prometheus.yml"), config);
      int port = TestNode.freePort();
      Process prom = new ProcessBuilder(prometheus().toString(), "--config.file=" + dir.resolve("prometheus.yml"),
          "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port)
          .redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile()).start();
      try {
        Set<String> missing = new TreeSet<>(metrics);
        long deadline = System.nanoTime() + Duration.ofSeconds(45).toNanos();
        while (!missing.isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(500);
          for (String metric : List.copyOf(missing)) {
            try {
              JsonNode r = query(port, metric);
              if ("success".equals(r.path("status").asText()) && r.path("data").path("result").size() > 0) {
                missing.remove(metric);
              }
            } catch (java.io.IOException starting) {
              break;
            }
          }
        }
        assertTrue(missing.isEmpty(), "metrics the dashboard queries that Prometheus does not have: " + missing
            + " (log: " + dir.resolve("prometheus.log") + ")");
        for (String e : expressions) {
          JsonNode r = query(port, e);
          assertEquals("success", r.path("status").asText(), e + ": " + r);
        }
        System.out.printf("prometheus: %d metrics of the dashboard's %d expressions found: %s%n", metrics.size(), expressions.size(), metrics);
      } finally {
        prom.destroy();
        if (!prom.waitFor(10, TimeUnit.SECONDS)) {
          prom.destroyForcibly();
        }
      }
    }
    new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor();
  }
}

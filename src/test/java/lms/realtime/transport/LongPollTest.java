package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.testkit.PollClient;
import lms.realtime.testkit.SseClient;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Contract §10, the long-poll mode for proxies that buffer a stream: the first answer (welcome
 * first) and {@code Lms-Poll-Url}, events through polls, an empty poll after the wait, a poll
 * answered again when its answer was lost, one poll at a time, the poll key's 403/404, a
 * connection whose polls stop closed like a silent socket (4002), and the queue's bound (4008).
 * Both transports.
 */
@Tag("socket")
class LongPollTest {
  static final String SERVICE = Tokens.service();

  @Test
  void framesComeThroughPolls() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", "", "lms.fallback.poll-wait", "3s"))) {
      PollClient c = PollClient.open(node.port, Tokens.instructor("t-poll", "81"));
      assertEquals(1, c.first.size());
      String id = c.welcome.get("connectionId").asText();
      assertEquals("/sse/" + id, c.welcome.get("postUrl").asText());
      assertTrue(c.pollUrl().matches("/sse/" + id + "/poll\\?key=[A-Za-z0-9_-]{43}&from=1"), c.pollUrl());
      assertEquals(1, node.metric("lms_connections_open{kind=\"poll\"}"));

      c.send("{\"type\":\"join\",\"id\":\"j\",\"room\":\"course:81\"}");
      assertEquals("j", c.await("joined", Duration.ofSeconds(10)).get("id").asText());
      for (int i = 1; i <= 3; i++) {
        node.post("/api/v1/rooms/course:81/events", SERVICE, "{\"event\":\"e\",\"data\":{\"i\":" + i + "}}");
      }
      List<JsonNode> events = new ArrayList<>();
      while (events.size() < 3) {
        events.addAll(c.poll());
      }
      for (int i = 0; i < 3; i++) {
        assertEquals(i + 1, events.get(i).get("seq").asLong());
      }

      // nothing comes: answered with an empty array after the wait
      long start = System.nanoTime();
      assertEquals(List.of(), c.poll());
      long waited = (System.nanoTime() - start) / 1_000_000;
      assertTrue(waited >= 1500 && waited < 6000, "waited " + waited + " ms");

      // an answer lost on the way: the same URL again gets the same frames
      String lost = c.pollUrl();
      node.post("/api/v1/rooms/course:81/events", SERVICE, "{\"event\":\"e\",\"data\":{\"i\":4}}");
      HttpResponse<String> firstTry = PollClient.get(node.port, lost, Map.of());
      HttpResponse<String> again = c.pollRaw();
      assertEquals(firstTry.body(), again.body());
      assertEquals(4, PollClient.frames(again).get(0).get("seq").asLong());

      // one poll at a time: a second one answers the first with nothing, at once
      String url = c.pollUrl();
      CompletableFuture<HttpResponse<String>> a = CompletableFuture.supplyAsync(() -> PollClient.get(node.port, url, Map.of()));
      CompletableFuture<HttpResponse<String>> b = CompletableFuture.supplyAsync(() -> PollClient.get(node.port, url, Map.of()));
      CompletableFuture.anyOf(a, b).get(2, TimeUnit.SECONDS); // well before the wait is over
      node.post("/api/v1/rooms/course:81/events", SERVICE, "{\"event\":\"e\",\"data\":{\"i\":5}}");
      List<String> bodies = List.of(a.get(5, TimeUnit.SECONDS).body(), b.get(5, TimeUnit.SECONDS).body());
      assertTrue(bodies.contains("[]"), bodies.toString());
      assertTrue(bodies.stream().anyMatch(x -> x.contains("\"seq\":5")), bodies.toString());
    }
  }

  @Test
  void aPollNeedsItsConnectionsKey() throws Exception {
    try (TestNode node = TestNode.start(Map.of())) {
      PollClient c = PollClient.open(node.port, Tokens.student("s-key"));
      PollClient other = PollClient.open(node.port, Tokens.student("s-key-other"));
      String path = c.pollUrl().substring(0, c.pollUrl().indexOf('?'));
      String otherKey = other.pollUrl().replaceAll(".*key=([^&]*).*", "$1");
      assertEquals(403, PollClient.get(node.port, path + "?from=1", Map.of()).statusCode());
      assertEquals(403, PollClient.get(node.port, path + "?key=" + otherKey + "&from=1", Map.of()).statusCode());
      assertEquals(404, PollClient.get(node.port, "/sse/c-nobody-1/poll?key=" + otherKey + "&from=1", Map.of()).statusCode());
      assertEquals(400, PollClient.get(node.port, c.pollUrl().replace("from=1", "from=x"), Map.of()).statusCode());
      // a stream is not polled
      try (SseClient stream = SseClient.open(node.port, Tokens.student("s-key-stream"))) {
        assertEquals(403, PollClient.get(node.port, stream.postUrl() + "/poll?key=" + otherKey + "&from=1", Map.of()).statusCode());
      }
    }
  }

  @Test
  void pollsThatStopEndTheConnection4002() throws Exception {
    Duration heartbeat = Duration.ofSeconds(1);
    try (TestNode node = TestNode.start(Map.of("lms.heartbeat-seconds", heartbeat.toSeconds(), "lms.fallback.poll-wait", "1s"))) {
      PollClient stopped = PollClient.open(node.port, Tokens.student("s-stopped"));
      PollClient polling = PollClient.open(node.port, Tokens.student("s-polling"));
      long start = System.nanoTime();
      // both keep their heartbeat by POSTs; only one of them polls: until the other's 4002 (two
      // intervals) and for three intervals at least, one more than a connection without polls lives
      while (System.nanoTime() - start < heartbeat.multipliedBy(3).toNanos()
          || (node.metric("lms_sockets_closed_total{code=\"4002\"}") < 1 && System.nanoTime() - start < heartbeat.multipliedBy(6).toNanos())) {
        stopped.send("{\"type\":\"ping\"}");
        polling.send("{\"type\":\"ping\"}");
        polling.poll();
        Thread.sleep(heartbeat.dividedBy(5).toMillis()); // a heartbeat well inside one interval, and under the rate limit
      }
      List<JsonNode> last = stopped.poll();
      JsonNode close = last.get(last.size() - 1);
      assertEquals("close", close.get("type").asText(), last.toString());
      assertEquals(4002, close.get("code").asInt());
      assertTrue(SseClient.until(() -> stopped.pollRaw().statusCode() == 404, Duration.ofSeconds(5)), "the connection is gone");
      polling.send("{\"type\":\"ping\",\"id\":\"alive\"}");
      assertEquals("alive", polling.await("pong", Duration.ofSeconds(5)).get("id").asText());
    }
  }

  @Test
  void framesPastTheBoundCloseTheConnection4008() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", "", "lms.limits.outgoing-buffer", 10))) {
      PollClient c = PollClient.open(node.port, Tokens.student("s-behind", "82"));
      c.send("{\"type\":\"join\",\"id\":\"j\",\"room\":\"course:82\"}");
      assertEquals("joined", c.await("joined", Duration.ofSeconds(10)).get("type").asText());
      for (int i = 0; i < 15; i++) {
        node.post("/api/v1/rooms/course:82/events", SERVICE, "{\"event\":\"e\",\"data\":{}}");
      }
      assertTrue(SseClient.until(() -> node.metric("lms_sockets_closed_total{code=\"4008\"}") == 1, Duration.ofSeconds(5)));
      List<JsonNode> frames = c.poll();
      assertEquals(1, frames.size(), "the close goes ahead of what waited: " + frames);
      assertEquals(4008, frames.get(0).get("code").asInt());
      ProtectionTest.assertRetryAdvice(frames.get(0).get("reason").asText(), 1000, 10000);
    }
  }
}

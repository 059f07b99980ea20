package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import lms.realtime.testkit.SseClient;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Contract §10, the fallback's handshake and its HTTP edges, on real sockets: {@code GET /sse}
 * answers as {@code GET /ws} does (401, 403, 429, with the per-user limit shared with WebSockets),
 * the stream's headers and its welcome, the keep-alive comments, CORS and the preflight, the POST
 * side's 403 and 404. Both transports.
 */
@Tag("socket")
class SseHandshakeTest {
  static final String ORIGIN = "https://school.example";
  static TestNode node;

  @BeforeAll
  static void start() {
    node = TestNode.start(Map.of("lms.limits.max-connections-per-user", 2, "lms.fallback.keep-alive", "1s"));
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  @Test
  void refusalsAreTheSocketsOnes() throws Exception {
    SseClient noToken = SseClient.connect(node.port, "/sse", Map.of());
    assertEquals(401, noToken.status);
    assertEquals("unauthorized", WsClient.JSON.readTree(noToken.body).get("error").asText());

    SseClient foreign = SseClient.connect(node.port, "/sse?token=" + Tokens.student("s-origin"), Map.of("Origin", "https://elsewhere.example"));
    assertEquals(403, foreign.status);
    assertEquals("origin_not_allowed", WsClient.JSON.readTree(foreign.body).get("error").asText());
    assertNull(foreign.headers.get("access-control-allow-origin"), "no CORS for an origin not allowed");

    SseClient badMode = SseClient.connect(node.port, "/sse?mode=carrier-pigeon&token=" + Tokens.student("s-mode"), Map.of());
    assertEquals(400, badMode.status);
    assertEquals("bad_request", WsClient.JSON.readTree(badMode.body).get("error").asText());
  }

  @Test
  void thePerUserLimitCountsStreamsAndSocketsTogether() throws Exception {
    String token = Tokens.student("s-limit");
    try (WsClient socket = node.open(token); SseClient stream = SseClient.open(node.port, token)) {
      SseClient third = SseClient.connect(node.port, "/sse?token=" + token, Map.of("Origin", ORIGIN));
      assertEquals(429, third.status);
      assertEquals("too_many_connections", WsClient.JSON.readTree(third.body).get("error").asText());
      assertNotNull(third.headers.get("retry-after"));
      assertEquals(ORIGIN, third.headers.get("access-control-allow-origin"), "an allowed page may read the refusal");
      WsClient.HandshakeRefused ws = assertThrows(WsClient.HandshakeRefused.class, () -> node.connect(token));
      assertEquals(429, ws.status);
      // the stream counts in presence like a socket: one user, two connections
      assertEquals(2, WsClient.JSON.readTree(node.get("/api/v1/users/s-limit/presence", Tokens.service()).body())
          .get("connections").asInt());
    }
  }

  @Test
  void aStreamHasItsHeadersAndAWelcomeToPostWith() throws Exception {
    SseClient stream = SseClient.connect(node.port, "/sse?token=" + Tokens.student("s-welcome"), Map.of("Origin", ORIGIN));
    try {
      assertEquals(200, stream.status);
      assertTrue(stream.headers.get("content-type").startsWith("text/event-stream"), stream.headers.toString());
      assertEquals("no-cache", stream.headers.get("cache-control"));
      assertEquals("no", stream.headers.get("x-accel-buffering"));
      assertEquals(ORIGIN, stream.headers.get("access-control-allow-origin"));
      assertEquals("true", stream.headers.get("access-control-allow-credentials"));
      assertNull(stream.headers.get("content-length"), "a stream has no length");
      JsonNode welcome = stream.expect("welcome");
      String id = welcome.get("connectionId").asText();
      assertEquals("s-welcome", welcome.get("userId").asText());
      assertEquals(25, welcome.get("heartbeatSeconds").asInt());
      assertEquals("/sse/" + id, welcome.get("postUrl").asText());
      assertTrue(welcome.get("postToken").asText().matches("[A-Za-z0-9_-]{43}"), welcome.toString());
      assertEquals(1, node.metric("lms_connections_open{kind=\"sse\"}"));
      assertTrue(node.metric("lms_handshakes_total{kind=\"sse\"}") >= 1);
      // the keep-alive: comment lines, at least every lms.fallback.keep-alive (1 s here)
      assertTrue(SseClient.until(() -> stream.comments() >= 2, java.time.Duration.ofSeconds(5)), "comments: " + stream.comments());
    } finally {
      stream.close();
    }
  }

  @Test
  void postsNeedTheConnectionsOwnToken() throws Exception {
    try (SseClient a = SseClient.open(node.port, Tokens.instructor("s-post-a", "61"));
        SseClient b = SseClient.open(node.port, Tokens.student("s-post-b", "61"))) {
      a.join("course:61");
      b.join("course:61");
      assertEquals("s-post-b", a.expect("presence_diff").get("joined").get(0).get("userId").asText());
      String publish = "{\"type\":\"publish\",\"id\":\"p\",\"room\":\"course:61\",\"event\":\"e\",\"data\":{}}";
      HttpResponse<String> none = a.post(publish, null);
      assertEquals(403, none.statusCode());
      assertEquals("forbidden", WsClient.JSON.readTree(none.body()).get("error").asText());
      HttpResponse<String> others = a.post(publish, b.postToken());
      assertEquals(403, others.statusCode(), "another connection's token");
      HttpResponse<String> forged = a.post(publish, a.postToken().substring(1) + "A");
      assertEquals(403, forged.statusCode());
      HttpResponse<String> gone = SseClient.post(node.port, "/sse/c-nobody-1", publish, a.postToken(), Map.of());
      assertEquals(404, gone.statusCode());
      assertEquals("not_found", WsClient.JSON.readTree(gone.body()).get("error").asText());
      HttpResponse<String> foreign = SseClient.post(node.port, a.postUrl(), publish, a.postToken(), Map.of("Origin", "https://elsewhere.example"));
      assertEquals(403, foreign.statusCode());
      // none of them did anything: nobody got an answer, the room saw no event. A POST taken hands
      // its frames to the connection before it is answered, and the connection takes them in order:
      // a ping sent now is answered after anything they asked of it (and after it told the room)
      a.send("{\"type\":\"ping\",\"id\":\"marker\"}");
      JsonNode pong = a.next();
      assertEquals("pong", pong.path("type").asText(), "the next frame is the marker's answer: " + pong);
      assertEquals("marker", pong.path("id").asText());
      // and the room delivers its events in order: its first event is the next frame of both
      assertEquals(1, WsClient.JSON.readTree(node.post("/api/v1/rooms/course:61/events", Tokens.service(),
          "{\"event\":\"after\",\"data\":{}}").body()).get("seq").asLong(), "the first event of the room");
      for (SseClient member : new SseClient[] {a, b}) {
        JsonNode first = member.next();
        assertEquals("after", first.path("event").asText(), "the next frame is the room's first event: " + first);
        assertEquals(1, first.get("seq").asLong());
      }
      // the right one, from an allowed page: 204 with CORS, and the answers come on the stream
      HttpResponse<String> ok = SseClient.post(node.port, a.postUrl(), publish, a.postToken(), Map.of("Origin", ORIGIN));
      assertEquals(204, ok.statusCode());
      assertEquals(ORIGIN, ok.headers().firstValue("access-control-allow-origin").orElse(null));
      assertEquals(2, a.expect("event").get("seq").asLong());
      assertEquals("ack", a.expect("ack").get("type").asText());
    }
  }

  @Test
  void thePreflightAllowsWhatAPageNeeds() throws Exception {
    for (String path : new String[] {"/sse", "/sse/c-any-1", "/sse/c-any-1/poll"}) {
      HttpResponse<String> allowed = options(path, ORIGIN);
      assertEquals(204, allowed.statusCode(), path);
      assertEquals(ORIGIN, allowed.headers().firstValue("access-control-allow-origin").orElse(null));
      assertTrue(allowed.headers().firstValue("access-control-allow-methods").orElse("").contains("POST"));
      assertTrue(allowed.headers().firstValue("access-control-allow-headers").orElse("").contains("Authorization"));
      assertEquals("true", allowed.headers().firstValue("access-control-allow-credentials").orElse(null));
      HttpResponse<String> refused = options(path, "https://elsewhere.example");
      assertEquals(403, refused.statusCode(), path);
      assertNotEquals(true, refused.headers().firstValue("access-control-allow-origin").isPresent());
    }
  }

  static HttpResponse<String> options(String path, String origin) {
    return node.send(HttpRequest.newBuilder(URI.create(node.url(path)))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type"), null);
  }
}

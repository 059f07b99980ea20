package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Map;
import lms.realtime.testkit.SseClient;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Contract §10: an SSE connection is a connection like a socket's. Rooms, events in order, publish
 * and ack, presence with WebSocket members, removal, recovery after the stream drops, refresh, and
 * the close codes of §5 as a last {@code close} event (4002, 4008, 4029, 1009), on real sockets. Both
 * transports.
 */
@Tag("socket")
class SseSessionTest {
  static final String SERVICE = Tokens.service();

  @Test
  void roomsEventsPresenceAndRemovalAsOnASocket() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", ""));
        SseClient teacher = SseClient.open(node.port, Tokens.instructor("t-sse", "71"));
        WsClient student = node.open(Tokens.student("s-ws", "71"))) {
      JsonNode joined = teacher.join("course:71");
      assertEquals(0, joined.get("seq").asLong());
      student.join("course:71");
      assertEquals("s-ws", teacher.expect("presence_diff").get("joined").get(0).get("userId").asText());

      // three frames in one POST: applied in order, their answers on the stream in order
      teacher.send("[" + publish("a", 1) + "," + publish("b", 2) + ",{\"type\":\"presence\",\"id\":\"q\",\"room\":\"course:71\"}]");
      for (int seq = 1; seq <= 2; seq++) {
        JsonNode event = teacher.expect("event");
        assertEquals(seq, event.get("seq").asLong());
        assertEquals("t-sse", event.get("from").asText());
        JsonNode ack = teacher.expect("ack");
        assertEquals("p" + seq, ack.get("id").asText());
        assertEquals(seq, ack.get("seq").asLong());
        assertEquals(seq, student.expect("event").get("seq").asLong());
      }
      JsonNode presence = teacher.expect("presence");
      assertEquals(2, presence.get("users").size());

      // the backend's events reach the stream in seq order
      for (int i = 0; i < 20; i++) {
        assertEquals(202, node.post("/api/v1/rooms/course:71/events", SERVICE, "{\"event\":\"tick\",\"data\":{\"i\":" + i + "}}").statusCode());
      }
      for (int i = 0; i < 20; i++) {
        JsonNode event = teacher.expect("event");
        assertEquals(3 + i, event.get("seq").asLong());
        assertEquals(i, event.get("data").get("i").asInt());
      }

      // a notification, and the removal of the user: left with reason removed
      node.post("/api/v1/users/t-sse/notifications", SERVICE, "{\"event\":\"hi\",\"data\":{},\"durable\":false}");
      assertEquals("hi", teacher.expect("notification").get("event").asText());
      assertEquals(200, node.delete("/api/v1/rooms/course:71/members/t-sse", SERVICE).statusCode());
      JsonNode left = teacher.await("left");
      assertEquals("removed", left.get("reason").asText());
      // the student's presence saw the stream's user go
      assertEquals(1, WsClient.JSON.readTree(node.get("/api/v1/rooms/course:71/presence", SERVICE).body()).get("users").size());
    }
  }

  static String publish(String event, int n) {
    return "{\"type\":\"publish\",\"id\":\"p" + n + "\",\"room\":\"course:71\",\"event\":\"" + event + "\",\"data\":{\"n\":" + n + "}}";
  }

  @Test
  void aDroppedStreamIsGoneAndANewOneRecoversWithSince() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", ""))) {
      String token = Tokens.student("s-recover", "72");
      SseClient first = SseClient.open(node.port, token);
      first.join("course:72");
      node.post("/api/v1/rooms/course:72/events", SERVICE, "{\"event\":\"one\",\"data\":{}}");
      JsonNode seen = first.expect("event");
      first.close(); // the stream drops
      // the connection is gone with it: its user leaves presence, its POSTs get 404
      assertTrue(SseClient.until(() -> first.post("{\"type\":\"ping\"}").statusCode() == 404, Duration.ofSeconds(10)));
      assertEquals(false, WsClient.JSON.readTree(node.get("/api/v1/users/s-recover/presence", SERVICE).body()).get("online").asBoolean());
      node.post("/api/v1/rooms/course:72/events", SERVICE, "{\"event\":\"two\",\"data\":{}}");
      node.post("/api/v1/rooms/course:72/events", SERVICE, "{\"event\":\"three\",\"data\":{}}");
      try (SseClient again = SseClient.open(node.port, token)) {
        again.send("{\"type\":\"join\",\"id\":\"r\",\"room\":\"course:72\",\"since\":{\"epoch\":\"" + seen.get("epoch").asText()
            + "\",\"seq\":" + seen.get("seq").asLong() + "}}");
        JsonNode joined = again.expect("joined");
        assertTrue(joined.get("recovered").asBoolean(), joined.toString());
        assertEquals(2, joined.get("missed").size());
        assertEquals("two", joined.get("missed").get(0).get("event").asText());
        assertEquals("three", joined.get("missed").get(1).get("event").asText());
      }
    }
  }

  @Test
  void refreshMovesTheTokenOfTheConnection() throws Exception {
    try (TestNode node = TestNode.start(Map.of());
        SseClient c = SseClient.open(node.port, Tokens.student("s-refresh", "73"))) {
      c.send("{\"type\":\"refresh\",\"id\":\"r1\",\"token\":\"" + Tokens.student("s-refresh", "73") + "\"}");
      JsonNode refreshed = c.expect("refreshed");
      assertEquals("r1", refreshed.get("id").asText());
      assertTrue(refreshed.get("exp").asLong() > 0);
      c.send("{\"type\":\"refresh\",\"id\":\"r2\",\"token\":\"" + Tokens.student("someone-else", "73") + "\"}");
      JsonNode refused = c.expect("error");
      assertEquals("forbidden", refused.get("code").asText());
    }
  }

  @Test
  void aSilentClientIsClosed4002AndPostedPingsKeepOneOpen() throws Exception {
    Duration heartbeat = Duration.ofSeconds(1);
    try (TestNode node = TestNode.start(Map.of("lms.heartbeat-seconds", heartbeat.toSeconds()));
        SseClient silent = SseClient.open(node.port, Tokens.student("s-silent"));
        SseClient pinging = SseClient.open(node.port, Tokens.student("s-pinging"))) {
      long start = System.nanoTime();
      // until the silent one's 4002 (two intervals) and for three intervals at least, one more than a silent client lives
      while (System.nanoTime() - start < heartbeat.multipliedBy(3).toNanos()
          || (node.metric("lms_sockets_closed_total{code=\"4002\"}") < 1 && System.nanoTime() - start < heartbeat.multipliedBy(6).toNanos())) {
        pinging.send("{\"type\":\"ping\"}");
        assertEquals("pong", pinging.expect("pong").get("type").asText());
        Thread.sleep(heartbeat.multipliedBy(2).dividedBy(5).toMillis()); // the client's heartbeat, well inside one interval
      }
      JsonNode close = silent.awaitClose(Duration.ofSeconds(5));
      assertEquals(4002, close.get("code").asInt());
      assertEquals("heartbeat missed", close.get("reason").asText());
      assertFalse(pinging.ends(Duration.ZERO), "the pinging stream is still open");
      assertTrue(SseClient.until(() -> silent.post("{\"type\":\"ping\"}").statusCode() == 404, Duration.ofSeconds(5)));
    }
  }

  @Test
  void pastTheRateAPostIsAnsweredRateLimitedThenClosed4029() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.rate-per-second", 5, "lms.limits.rate-burst", 5,
        "lms.limits.rate-strikes-before-close", 10));
        SseClient c = SseClient.open(node.port, Tokens.student("s-flood"))) {
      c.send(pings(0, 6)); // one over the burst
      for (int i = 0; i < 5; i++) {
        assertEquals(Integer.toString(i), c.expect("pong").get("id").asText());
      }
      JsonNode limited = c.expect("error");
      assertEquals("rate_limited", limited.get("code").asText());
      assertEquals("5", limited.get("id").asText());
      // and on past the strikes: the close (what was queued before it may be dropped, as on a socket)
      c.send(pings(6, 30));
      JsonNode close = c.awaitClose(Duration.ofSeconds(5));
      assertEquals(4029, close.get("code").asInt());
      ProtectionTest.assertRetryAdvice(close.get("reason").asText(), 1000, 10000);
    }
  }

  @Test
  void aStreamThatIsNotReadIsClosed4008AndTheCloseComesLast() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", ""));
        SseClient c = SseClient.open(node.port, Tokens.student("s-unread", "75"), 8192)) {
      c.join("course:75");
      c.pause(); // TCP's window shuts, then the engine's queue for the stream fills
      int published = SlowReaderCloseTest.publishUntilClosed(node, "course:75");
      c.resume();
      JsonNode close = c.awaitClose(Duration.ofSeconds(10));
      System.out.printf("unread stream: closed 4008 after %d events of 4 KB%n", published);
      assertEquals(4008, close.get("code").asInt());
      ProtectionTest.assertRetryAdvice(close.get("reason").asText(), 1000, 10000);
      assertTrue(SseClient.until(() -> c.post("{\"type\":\"ping\"}").statusCode() == 404, Duration.ofSeconds(5)), "the connection is gone");
    }
  }

  static String pings(int from, int to) {
    StringBuilder pings = new StringBuilder("[");
    for (int i = from; i < to; i++) {
      pings.append(i == from ? "" : ",").append("{\"type\":\"ping\",\"id\":\"").append(i).append("\"}");
    }
    return pings.append(']').toString();
  }

  @Test
  void aFrameOverTheSizeBoundCloses1009AndABodyOverItsBoundChangesNothing() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.fallback.max-post-bytes", "100k", "lms.durable.rooms", ""));
        SseClient big = SseClient.open(node.port, Tokens.instructor("s-big", "74"));
        SseClient huge = SseClient.open(node.port, Tokens.student("s-huge"));
        WsClient member = node.open(Tokens.student("s-member", "74"))) {
      big.join("course:74");
      member.join("course:74");
      // a body over lms.fallback.max-post-bytes: 413, and the connection goes on
      assertEquals(413, huge.post("{\"type\":\"ping\",\"pad\":\"" + "x".repeat(150_000) + "\"}").statusCode());
      huge.send("{\"type\":\"ping\",\"id\":\"still\"}");
      assertEquals("still", huge.expect("pong").get("id").asText());
      // a frame over lms.limits.max-frame-bytes (64 KiB) in a body under its bound: the frames
      // before it are applied, then the close, 1009
      big.send("[" + publish("before", 1).replace("71", "74") + ",{\"type\":\"ping\",\"pad\":\"" + "x".repeat(70_000) + "\"},"
          + publish("after", 2).replace("71", "74") + "]");
      assertEquals("before", member.expect("event").get("event").asText());
      JsonNode close = big.awaitClose(Duration.ofSeconds(5));
      assertEquals(1009, close.get("code").asInt());
      assertEquals("frame larger than 65536 bytes", close.get("reason").asText());
      // nothing after the frame over the bound was read. A POST is 404 once the connection's actor
      // has stopped, so whatever it told the room came before; the room numbers and delivers in
      // order: its next event is the member's next frame, seq 2 ("after" would have taken it)
      assertTrue(SseClient.until(() -> big.post("{\"type\":\"ping\"}").statusCode() == 404, WsClient.WAIT), "the connection is gone");
      assertEquals(2, WsClient.JSON.readTree(node.post("/api/v1/rooms/course:74/events", Tokens.service(), "{\"event\":\"marker\"}").body())
          .get("seq").asLong());
      JsonNode next = member.next();
      assertEquals("marker", next.path("event").asText(), "the next frame is the marker: " + next);
      assertEquals(2, next.get("seq").asLong());
    }
  }

  @Test
  void malformedFramesAreAnsweredOnTheStreamAndTheConnectionStays() throws Exception {
    try (TestNode node = TestNode.start(Map.of());
        SseClient c = SseClient.open(node.port, Tokens.student("s-bad"))) {
      c.send("not json");
      assertEquals("bad_request", c.expect("error").get("code").asText());
      c.send("[{\"type\":\"ping\",\"id\":\"1\"}, oops]"); // a broken array: one malformed frame, nothing of it applied
      assertEquals("bad_request", c.expect("error").get("code").asText());
      c.send("[{\"type\":\"nope\",\"id\":\"u\"}, 7]");
      assertEquals("unknown_type", c.expect("error").get("code").asText());
      assertEquals("bad_request", c.expect("error").get("code").asText());
      c.send("[]");
      c.send("{\"type\":\"ping\",\"id\":\"alive\"}");
      assertEquals("alive", c.expect("pong").get("id").asText());
    }
  }
}

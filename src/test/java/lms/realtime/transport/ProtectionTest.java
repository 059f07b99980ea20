package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Contract §5, one row at a time, each hit through a real socket on a node with small limits. */
@Tag("socket")
class ProtectionTest {
  static final String SERVICE = Tokens.service();

  static WsClient open(TestNode node, String token) {
    return node.open(token);
  }

  static void assertRetryAdvice(String reason, int min, int max) throws Exception {
    JsonNode advice = WsClient.JSON.readTree(reason);
    int ms = advice.get("retryAfterMs").asInt();
    assertTrue(ms >= min && ms <= max, reason);
  }

  @Test
  void rateLimitAnswersRateLimitedThenCloses4029() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.rate-per-second", 5, "lms.limits.rate-burst", 5,
        "lms.limits.rate-strikes-before-close", 10))) {
      WsClient ws = open(node, Tokens.student("flood"));
      for (int i = 0; i < 5; i++) {
        ws.send("{\"type\":\"ping\",\"id\":\"" + i + "\"}");
      }
      for (int i = 0; i < 5; i++) {
        ws.expect("pong");
      }
      ws.send("{\"type\":\"ping\"}");
      JsonNode limited = ws.expect("error");
      assertEquals("rate_limited", limited.get("code").asText());
      for (int i = 0; i < 20 && !ws.closed().isDone(); i++) {
        try {
          ws.send("{\"type\":\"ping\"}");
        } catch (Exception closedAlready) {
          break;
        }
      }
      WsClient.Closed closed = ws.awaitClose(Duration.ofSeconds(10));
      assertEquals(4029, closed.code());
      assertRetryAdvice(closed.reason(), 1000, 10000);
    }
  }

  @Test
  void aClientUnderTheRateIsNeverLimited() throws Exception {
    int rate = 20;
    try (TestNode node = TestNode.start(Map.of("lms.limits.rate-per-second", rate, "lms.limits.rate-burst", 5))) {
      WsClient ws = open(node, Tokens.student("polite"));
      for (int i = 0; i < 15; i++) {
        ws.send("{\"type\":\"ping\"}");
        ws.expect("pong");
        Thread.sleep(1200 / rate); // a frame every 1.2 / rate seconds: under the rate, past the burst
      }
      ws.close();
    }
  }

  @Test
  void frameOverTheLimitCloses1009() {
    try (TestNode node = TestNode.start(Map.of("lms.limits.max-frame-bytes", 1024))) {
      WsClient ok = open(node, Tokens.student("small"));
      ok.send("{\"type\":\"ping\",\"id\":\"" + "x".repeat(900) + "\"}");
      assertEquals("bad_request", ok.expect("error").get("code").asText()); // id too long, but the frame is fine
      // 400 three-byte characters: 1,200 bytes in UTF-8, though only 400 chars
      ok.send("{\"type\":\"ping\",\"id\":\"" + "€".repeat(400) + "\"}");
      assertEquals(1009, ok.awaitClose(Duration.ofSeconds(10)).code());

      WsClient big = open(node, Tokens.student("big"));
      big.send("{\"type\":\"publish\",\"data\":\"" + "a".repeat(100_000) + "\"}");
      assertEquals(1009, big.awaitClose(Duration.ofSeconds(10)).code());
      // and the node goes on
      try (WsClient after = open(node, Tokens.student("after"))) {
        after.send("{\"type\":\"ping\"}");
        after.expect("pong");
      }
    }
  }

  @Test
  void binaryFrameCloses1003() {
    try (TestNode node = TestNode.start()) {
      WsClient ws = open(node, Tokens.student("bin"));
      ws.socket.sendBinary(ByteBuffer.wrap(new byte[] {1, 2, 3}), true).join();
      assertEquals(1003, ws.awaitClose(Duration.ofSeconds(10)).code());
    }
  }

  @Test
  void silentSocketIsClosed4002AndLeavesPresenceWhilePingsKeepOneAlive() throws Exception {
    Duration heartbeat = Duration.ofSeconds(1);
    try (TestNode node = TestNode.start(Map.of("lms.heartbeat-seconds", heartbeat.toSeconds()))) {
      WsClient teacher = open(node, Tokens.instructor("hb-t", "300"));
      WsClient alive = open(node, Tokens.student("hb-alive", "300"));
      assertEquals(1, alive.drain().size() + 1); // nothing but the welcome so far
      long start = System.nanoTime();
      WsClient silent = open(node, Tokens.student("hb-silent", "300"));
      silent.join("course:300");
      alive.join("course:300");
      teacher.join("course:300");
      // the teacher and "alive" keep pinging; "silent" says nothing more
      WsClient.Closed closed = null;
      while (closed == null && System.nanoTime() - start < Duration.ofSeconds(8).toNanos()) {
        teacher.send("{\"type\":\"ping\"}");
        alive.send("{\"type\":\"ping\"}");
        Thread.sleep(heartbeat.multipliedBy(3).dividedBy(10).toMillis()); // their heartbeat, well inside one interval
        if (silent.closed().isDone()) {
          closed = silent.closed().join();
        }
      }
      assertTrue(closed != null, "silent socket not closed");
      assertEquals(4002, closed.code());
      double seconds = (System.nanoTime() - start) / 1e9;
      assertTrue(seconds >= 1.9 && seconds < 4, "closed after " + seconds + " s");
      JsonNode diff = teacher.await("presence_diff");
      assertEquals("hb-silent", diff.get("left").get(0).asText());
      assertFalse(alive.closed().isDone());
      assertFalse(teacher.closed().isDone());
      var p = WsClient.JSON.readTree(node.get("/api/v1/users/hb-silent/presence", SERVICE).body());
      assertFalse(p.get("online").asBoolean());
      teacher.close();
      alive.close();
    }
  }

  @Test
  void tokenExpiringMidSessionCloses4001() {
    try (TestNode node = TestNode.start(Map.of("lms.jwt.clock-skew-seconds", 0))) {
      long start = System.nanoTime();
      WsClient ws = open(node, Tokens.timed("short-lived", 2, 0));
      WsClient.Closed closed = ws.awaitClose(Duration.ofSeconds(10));
      assertEquals(4001, closed.code());
      assertTrue((System.nanoTime() - start) / 1e9 < 4);
    }
  }

  /**
   * Issue 22: the latest exp accepted (the end of the year 9999, §1) keeps its socket open and idle.
   * The nanoseconds to it overflowed a long, and the negative delay re-armed the socket's 4001 timer
   * at once, over and over: a core spun for as long as the socket lived.
   */
  @Test
  void anExpInTheYear9999KeepsTheSocketOpenAndIdle() {
    try (TestNode node = TestNode.start()) {
      WsClient ws = open(node, Tokens.handMade("{\"alg\":\"HS256\"}", "{\"sub\":\"far\",\"exp\":253402300799}"));
      long cpu = actorThreadsCpuNanos();
      long wall = System.nanoTime();
      ws.expectNothing(Duration.ofSeconds(1));
      double cores = (actorThreadsCpuNanos() - cpu) / (double) (System.nanoTime() - wall);
      System.out.printf("one idle socket with an exp in the year 9999: the node's actor threads used %.3f of a core%n", cores);
      assertTrue(cores < 0.3, "the actor threads used " + cores + " of a core while the socket idled");
      ws.send("{\"type\":\"ping\",\"id\":\"p\"}");
      assertEquals("p", ws.expect("pong").get("id").asText());
      ws.close();
    }
  }

  /** CPU time of the node's Pekko threads (dispatchers and scheduler), not the JIT's, the GC's or the test's. */
  private static long actorThreadsCpuNanos() {
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (java.lang.management.ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
      if (t != null && t.getThreadName().contains("pekko.")) {
        sum += Math.max(0, threads.getThreadCpuTime(t.getThreadId()));
      }
    }
    return sum;
  }

  @Test
  void pausedReaderIsClosed4008AndTheRoomGoesOnAtFullSpeed() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.outgoing-buffer", 100))) {
      WsClient slow = open(node, Tokens.student("slow", "400"));
      WsClient fast1 = open(node, Tokens.student("fast1", "400"));
      WsClient fast2 = open(node, Tokens.student("fast2", "400"));
      for (WsClient ws : new WsClient[] {slow, fast1, fast2}) {
        ws.join("course:400");
      }
      slow.pause();
      Runtime rt = Runtime.getRuntime();
      long heapBefore = rt.totalMemory() - rt.freeMemory();
      int events = fillUntilClosed(node, "course:400", 1) + 200;
      for (int i = 0; i < 200; i++) { // the room goes on after the slow reader is gone
        assertEquals(202, node.post("/api/v1/rooms/course:400/events", SERVICE, "{\"event\":\"e\"}").statusCode());
      }
      long heapAfter = rt.totalMemory() - rt.freeMemory();
      for (WsClient fast : new WsClient[] {fast1, fast2}) {
        for (int i = 1; i <= events; i++) {
          assertEquals(i, fast.expect("event").get("seq").asLong());
        }
      }
      slow.resume();
      WsClient.Closed closed = slow.awaitClose(Duration.ofSeconds(20));
      assertEquals(4008, closed.code());
      assertRetryAdvice(closed.reason(), 1000, 10000);
      int got = slow.drain().size();
      assertTrue(got < events, "the slow reader got " + got + " of " + events);
      System.out.printf("slow reader: got %d of %d events before 4008; heap in use before %d MiB, after %d MiB%n",
          got, events, heapBefore >> 20, heapAfter >> 20);
      String metrics = node.get("/metrics", null).body();
      assertTrue(metrics.contains("lms_sockets_closed_total{code=\"4008\"} 1.0"), metrics);
      assertTrue(metrics.matches("(?s).*lms_queue_drops_total [1-9].*"), "queue drops counted");
      fast1.close();
      fast2.close();
    }
  }

  /**
   * Publishes 16 KiB events into a room until the engine has closed the n-th slow reader with 4008
   * (a paused client's TCP buffers take megabytes first); returns how many it published.
   */
  static int fillUntilClosed(TestNode node, String room, int nthClose) {
    String body = "{\"event\":\"e\",\"data\":\"" + "p".repeat(16_384) + "\"}";
    String closedLine = "lms_sockets_closed_total{code=\"4008\"} " + nthClose + ".0";
    for (int i = 1; i <= 5000; i++) {
      assertEquals(202, node.post("/api/v1/rooms/" + room + "/events", SERVICE, body).statusCode());
      if (i % 20 == 0 && node.get("/metrics", null).body().contains(closedLine)) {
        return i;
      }
    }
    throw new AssertionError("no 4008 after 5000 events");
  }

  @Test
  void retryAdviceIsJitteredPerSocket() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.outgoing-buffer", 5))) {
      Set<Integer> advice = new HashSet<>();
      for (int i = 0; i < 6; i++) {
        WsClient ws = open(node, Tokens.student("j" + i, "500"));
        ws.join("course:500");
        ws.pause();
        fillUntilClosed(node, "course:500", i + 1);
        ws.resume();
        WsClient.Closed closed = ws.awaitClose(Duration.ofSeconds(20));
        assertEquals(4008, closed.code());
        advice.add(WsClient.JSON.readTree(closed.reason()).get("retryAfterMs").asInt());
      }
      assertTrue(advice.size() > 1, "retry advice all the same: " + advice);
    }
  }

  @Test
  void metricsCountWhatHappened() throws Exception {
    try (TestNode node = TestNode.start()) {
      WsClient ws = open(node, Tokens.student("m1", "600"));
      ws.join("course:600");
      node.post("/api/v1/rooms/course:600/events", SERVICE, "{\"event\":\"e\"}");
      ws.expect("event");
      try {
        node.connect("bad-token");
      } catch (WsClient.HandshakeRefused expected) {
        assertEquals(401, expected.status);
      }
      String m = node.get("/metrics", null).body();
      for (String metric : new String[] {"lms_sockets_open 1.0", "lms_rooms_active", "lms_users_online 1.0", "lms_frames_in_total",
          "lms_frames_out_total", "lms_events_published_total 1.0", "lms_handshakes_refused_total{reason=\"unauthorized\"} 1.0",
          "lms_queue_drops_total", "lms_publish_to_enqueue_seconds_bucket", "lms_publish_to_enqueue_seconds_count 1"}) {
        assertTrue(m.contains(metric), metric + " missing in\n" + m);
      }
      ws.close();
    }
  }

  @Test
  void afterAllThatTheNodeStillAnswers() {
    try (TestNode node = TestNode.start()) {
      assertNotEquals(null, node.get("/health/ready", null).body());
    }
  }
}

package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a hostile or broken client sends through its own socket (issue 12): each case gets the answer
 * the contract names and changes nothing, and none of them can take the node's memory. Each test
 * prints what it measured.
 */
@Tag("socket")
class HostileInputTest {
  static final String SERVICE = Tokens.service();
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of("lms.limits.rate-per-second", 1000, "lms.limits.rate-burst", 1000));

  static long heapUsed() {
    Runtime rt = Runtime.getRuntime();
    System.gc();
    return rt.totalMemory() - rt.freeMemory();
  }

  /**
   * 200 events of 60 KB in one's own room: before issue 12 every join with {@code since} built a
   * 12 MB {@code joined} frame, and re-joins piled them up in the socket's queue (five such sockets
   * took a 1 GiB node down). A room's history has a byte budget, a re-join of a joined room is
   * refused, and a socket whose queued bytes pass its budget is closed with 4008.
   */
  @Test
  void recoveryFramesAreBoundedInBytes() throws Exception {
    String data = "x".repeat(60_000);
    String epoch = null;
    for (int i = 0; i < 200; i++) {
      var p = NODE.get().post("/api/v1/rooms/user:big/events", SERVICE, "{\"event\":\"e\",\"data\":\"" + data + "\"}");
      assertEquals(202, p.statusCode(), p.body());
      epoch = WsClient.JSON.readTree(p.body()).get("epoch").asText();
    }
    WsClient ws = NODE.get().open(Tokens.student("big"));
    ws.send("{\"type\":\"join\",\"room\":\"user:big\",\"id\":\"r1\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":0}}");
    String joined = ws.nextRaw(WsClient.WAIT);
    assertTrue(joined != null && joined.contains("\"joined\""), String.valueOf(joined).substring(0, Math.min(200, String.valueOf(joined).length())));
    System.out.printf("a join with since over 200 events of 60 KB: a %,d-byte joined frame%n", joined.length());
    assertTrue(joined.length() < 1_200_000, "the joined frame stays within the history's byte budget: " + joined.length());

    ws.send("{\"type\":\"join\",\"room\":\"user:big\",\"id\":\"r2\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":0}}");
    JsonNode again = ws.expect("error");
    assertEquals("bad_request", again.get("code").asText());
    assertEquals("r2", again.get("id").asText());

    // five paused sockets asking again and again take no memory worth the name
    long before = heapUsed();
    double framesBefore = NODE.get().metric("lms_frames_in_total");
    List<WsClient> paused = new ArrayList<>();
    for (int s = 0; s < 5; s++) {
      WsClient p = NODE.get().open(Tokens.student("big"));
      p.pause();
      for (int i = 0; i < 100; i++) {
        p.send("{\"type\":\"join\",\"room\":\"user:big\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":0}}");
      }
      paused.add(p);
    }
    // every join handled by its connection and sent on to the room, then a read through the room: its
    // answers to the joins before it are queued on the paused sockets
    Eventually.within(Duration.ofSeconds(10), () -> NODE.get().metric("lms_frames_in_total") - framesBefore, n -> n >= 500);
    assertEquals(200, NODE.get().get("/api/v1/rooms/user:big/events?limit=1", SERVICE).statusCode());
    long grew = heapUsed() - before;
    System.out.printf("five paused sockets x 100 joins with since: heap grew %,d bytes%n", grew);
    assertTrue(grew < 64L << 20, "heap grew " + grew);
    assertEquals("ready", WsClient.JSON.readTree(NODE.get().get("/health/ready", null).body()).get("status").asText());
    paused.forEach(WsClient::close);
    ws.close();
  }

  /** A socket whose queued bytes pass lms.limits.outgoing-bytes is a slow reader: 4008. */
  @Test
  void aSocketOverItsByteBudgetIsClosed4008() throws Exception {
    try (TestNode small = TestNode.start(Map.of("lms.limits.outgoing-bytes", "256k"))) {
      WsClient slow = small.open(Tokens.student("bytes", "700"));
      slow.join("course:700");
      slow.pause();
      String body = "{\"event\":\"e\",\"data\":\"" + "b".repeat(60_000) + "\"}";
      int sent = 0;
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!small.get("/metrics", null).body().contains("lms_sockets_closed_total{code=\"4008\"} 1.0")) {
        assertTrue(System.nanoTime() < deadline, "no 4008 after " + sent + " events of 60 KB");
        assertEquals(202, small.post("/api/v1/rooms/course:700/events", SERVICE, body).statusCode());
        sent++;
      }
      System.out.printf("256 KiB byte budget: 4008 after %d events of 60 KB (about %,d bytes sent)%n", sent, sent * 60_000L);
      assertTrue(sent < 1000 / 10, "closed by bytes, long before the 1,000-frame bound: " + sent);
      slow.resume();
      assertEquals(4008, slow.awaitClose(Duration.ofSeconds(20)).code());
    }
  }

  /** A leave of a room the socket never joined is answered at once and starts no room entity. */
  @Test
  void leavesOfRoomsNotJoinedStartNoRoom() throws Exception {
    WsClient ws = NODE.get().open(Tokens.student("leaver"));
    double rooms = NODE.get().metric("lms_rooms_active");
    for (int i = 0; i < 500; i++) {
      ws.send("{\"type\":\"leave\",\"room\":\"course:" + UUID.randomUUID() + "\",\"id\":\"l" + i + "\"}");
    }
    for (int i = 0; i < 500; i++) {
      JsonNode left = ws.expect("left");
      assertEquals("l" + i, left.get("id").asText());
    }
    double after = NODE.get().metric("lms_rooms_active");
    System.out.printf("500 leaves of random rooms: rooms active %.0f -> %.0f%n", rooms, after);
    assertTrue(after <= rooms, "room entities started: " + (after - rooms));
    ws.close();
  }

  /** Another user's own room is not a room one may join, so publishing into it is forbidden, not not_joined. */
  @Test
  void publishingIntoAnotherUsersRoomIsForbidden() {
    WsClient ws = NODE.get().open(Tokens.student("nosy"));
    ws.send("{\"type\":\"publish\",\"room\":\"user:someone-else\",\"event\":\"e\",\"data\":1,\"id\":\"p\"}");
    JsonNode error = ws.expect("error");
    assertEquals("forbidden", error.get("code").asText());
    assertEquals("p", error.get("id").asText());
    ws.send("{\"type\":\"publish\",\"room\":\"course:1\",\"event\":\"e\",\"data\":1,\"id\":\"q\"}");
    assertEquals("forbidden", ws.expect("error").get("code").asText(), "a course the token does not hold");
    ws.close();
  }

  /** 1e400 is not a number JSON can carry back, and text after the object is not a frame: bad_request. */
  @Test
  void unrepresentableNumbersAndTrailingTextAreBadRequest() throws Exception {
    WsClient ws = NODE.get().open(Tokens.student("numbers"));
    ws.send("{\"type\":\"publish\",\"room\":\"user:numbers\",\"event\":\"e\",\"data\":1e400,\"id\":\"n\"}");
    JsonNode error = ws.expect("error");
    assertEquals("bad_request", error.get("code").asText(), error.toString());
    ws.send("{\"type\":\"ping\",\"id\":\"t\"} and then some");
    assertEquals("bad_request", ws.expect("error").get("code").asText());
    ws.send("{\"type\":\"ping\",\"id\":\"ok\"}");
    assertEquals("ok", ws.expect("pong").get("id").asText());
    assertEquals(400, NODE.get().post("/api/v1/rooms/course:1/events", SERVICE, "{\"event\":\"e\",\"data\":1e400}").statusCode());
    assertEquals(400, NODE.get().post("/api/v1/rooms/course:1/events", SERVICE, "{\"event\":\"e\"} {\"event\":\"f\"}").statusCode());
    ws.close();
  }

  /** A refused frame's error says which request it refuses. */
  @Test
  void rateLimitedCarriesTheRequestId() throws Exception {
    try (TestNode limited = TestNode.start(Map.of("lms.limits.rate-per-second", 1, "lms.limits.rate-burst", 1))) {
      WsClient ws = limited.open(Tokens.student("rl"));
      ws.send("{\"type\":\"ping\",\"id\":\"first\"}");
      ws.send("{\"type\":\"presence\",\"room\":\"user:rl\",\"id\":\"second\"}");
      ws.send("{\"type\":\"ping\",\"id\":\"third\"}");
      assertEquals("first", ws.expect("pong").get("id").asText());
      // a refused ping is answered by the transport, a refused presence by the socket's actor: the
      // two are not ordered against each other (protocol.md §13), so they are matched by id
      Map<String, String> refused = new java.util.TreeMap<>();
      for (int i = 0; i < 2; i++) {
        JsonNode error = ws.expect("error");
        refused.put(error.get("id").asText(), error.get("code").asText());
      }
      assertEquals(Map.of("second", "rate_limited", "third", "rate_limited"), refused);
      ws.close();
    }
  }

  /** A room token is not an access token (contract §9): 401 at /ws; an access token is not a room token. */
  @Test
  void tokenKindsAreNotInterchangeable() {
    String roomToken = Tokens.roomToken("kind", "live:k", "student");
    WsClient.HandshakeRefused refused = org.junit.jupiter.api.Assertions.assertThrows(WsClient.HandshakeRefused.class,
        () -> NODE.get().connect(roomToken));
    assertEquals(401, refused.status);
    assertTrue(refused.body.contains("room token"), refused.body);
    WsClient ws = NODE.get().open(Tokens.student("kind"));
    ws.send("{\"type\":\"join\",\"room\":\"live:k\",\"token\":\"" + Tokens.student("kind") + "\",\"id\":\"j\"}");
    assertEquals("forbidden", ws.expect("error").get("code").asText());
    ws.close();
  }

  /**
   * A removal revokes what the older token gave in that room (contract §9): an instructor removed
   * from a course no longer sees its presence, and a join refused for it does not let a presence
   * query sent right behind it through.
   */
  @Test
  void aRemovalRevokesPresenceToo() throws Exception {
    WsClient teacher = NODE.get().open(Tokens.instructor("ex-teacher", "810"));
    teacher.join("course:810");
    teacher.send("{\"type\":\"presence\",\"room\":\"course:810\",\"id\":\"p1\"}");
    teacher.await("presence");
    assertEquals(200, NODE.get().delete("/api/v1/rooms/course:810/members/ex-teacher", SERVICE).statusCode());
    teacher.await("left");
    teacher.send("{\"type\":\"presence\",\"room\":\"course:810\",\"id\":\"p2\"}");
    JsonNode refused = teacher.await("error");
    assertEquals("forbidden", refused.get("code").asText(), refused.toString());
    assertEquals("p2", refused.get("id").asText());

    // live room: the join is refused (removed), the presence query pipelined behind it too
    assertEquals(200, NODE.get().delete("/api/v1/rooms/live:811/members/host", SERVICE).statusCode());
    WsClient host = NODE.get().open(Tokens.student("host"));
    String roomToken = Tokens.roomToken("host", "live:811", "instructor");
    host.send("{\"type\":\"join\",\"room\":\"live:811\",\"token\":\"" + roomToken + "\",\"id\":\"j\"}");
    host.send("{\"type\":\"presence\",\"room\":\"live:811\",\"id\":\"p\"}");
    List<String> answers = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      answers.add(host.next().toString());
    }
    System.out.println("removed host, join + presence pipelined: " + answers);
    assertFalse(answers.stream().anyMatch(a -> a.contains("\"presence\"") && a.contains("\"users\"")), answers.toString());
    assertTrue(answers.stream().allMatch(a -> a.contains("\"forbidden\"")), answers.toString());
    teacher.close();
    host.close();
  }
}

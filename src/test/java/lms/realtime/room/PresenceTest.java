package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.function.Predicate;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Issue 3: presence per room and per user, across devices, cleaned up by lifecycle. */
@Tag("socket")
class PresenceTest {
  static final String SERVICE = Tokens.service();
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass();

  static WsClient open(String token) {
    return NODE.get().open(token);
  }

  static JsonNode roomPresence(String room) throws Exception {
    var r = NODE.get().get("/api/v1/rooms/" + room + "/presence", SERVICE);
    assertEquals(200, r.statusCode(), r.body());
    return WsClient.JSON.readTree(r.body());
  }

  static JsonNode userPresence(String user) throws Exception {
    var r = NODE.get().get("/api/v1/users/" + user + "/presence", SERVICE);
    assertEquals(200, r.statusCode(), r.body());
    return WsClient.JSON.readTree(r.body());
  }

  /**
   * The marker for "the room said nothing more to this member": the room's next event, published
   * now, is its very next frame (a room says everything to a socket through one hub, in order).
   */
  static void expectNextIsMarker(WsClient member, String room) throws Exception {
    var r = NODE.get().post("/api/v1/rooms/" + room + "/events", SERVICE, "{\"event\":\"marker\"}");
    assertEquals(202, r.statusCode(), r.body());
    JsonNode next = member.next();
    assertEquals("event", next.path("type").asText(), "the next frame is the room's next event: " + next);
    assertEquals("marker", next.path("event").asText());
    assertEquals(WsClient.JSON.readTree(r.body()).get("seq").asLong(), next.get("seq").asLong());
  }

  /** Polls until the condition holds (cleanup after a close is asynchronous, and quick). */
  static JsonNode eventually(Eventually.Source<JsonNode> source, Predicate<JsonNode> condition) throws Exception {
    return Eventually.within(Duration.ofSeconds(10), source, condition);
  }

  @Test
  void twoDevicesOfAStudentCountOnceAndLeaveOnlyWithTheLast() throws Exception {
    try (WsClient teacher = open(Tokens.instructor("teach", "200"))) {
      teacher.join("course:200");
      WsClient phone = open(Tokens.student("stud", "200"));
      WsClient laptop = open(Tokens.student("stud", "200"));
      phone.join("course:200");
      JsonNode diff = teacher.expect("presence_diff");
      assertEquals("stud", diff.get("joined").get(0).get("userId").asText());
      assertEquals("Name of stud", diff.get("joined").get(0).get("name").asText());
      assertEquals("student", diff.get("joined").get(0).get("role").asText());
      assertEquals(0, diff.get("left").size());
      laptop.join("course:200");
      // a second device is not news: the room said its diff, had there been one, before the laptop's
      // joined, and says its events to the teacher in order through the same hub
      expectNextIsMarker(teacher, "course:200");

      JsonNode users = roomPresence("course:200").get("users");
      JsonNode stud = find(users, "stud");
      assertEquals(2, stud.get("connections").asInt());
      assertEquals(1, find(users, "teach").get("connections").asInt());
      assertEquals(2, users.size());
      teacher.send("{\"type\":\"presence\",\"room\":\"course:200\",\"id\":\"q\"}");
      assertEquals(2, find(teacher.expect("presence").get("users"), "stud").get("connections").asInt());

      JsonNode user = userPresence("stud");
      assertTrue(user.get("online").asBoolean());
      assertEquals(2, user.get("connections").asInt());

      phone.close();
      // the room's presence shows it has taken the phone out; a diff for that would have come before its next event
      assertEquals(1, find(eventually(() -> roomPresence("course:200").get("users"),
          u -> find(u, "stud") != null && find(u, "stud").get("connections").asInt() == 1), "stud").get("connections").asInt());
      expectNextIsMarker(teacher, "course:200");
      laptop.close();
      JsonNode left = teacher.expect("presence_diff");
      assertEquals("stud", left.get("left").get(0).asText());
      assertEquals(0, left.get("joined").size());
      eventually(() -> userPresence("stud"), p -> !p.get("online").asBoolean() && p.get("connections").asInt() == 0);
      eventually(() -> roomPresence("course:200").get("users"), u -> u.size() == 1);
    }
  }

  @Test
  void studentsGetNoDiffsAndMayNotAskForPresence() throws Exception {
    try (WsClient s1 = open(Tokens.student("s-a", "201")); WsClient s2 = open(Tokens.student("s-b", "201"))) {
      s1.join("course:201");
      s2.join("course:201");
      expectNextIsMarker(s1, "course:201"); // no diff of s2's join came before the room's next event
      s1.send("{\"type\":\"presence\",\"room\":\"course:201\"}");
      assertEquals("forbidden", s1.expect("error").get("code").asText());
    }
  }

  @Test
  void liveRoomPresenceIsForInstructorsByRoomToken() {
    try (WsClient inst = open(Tokens.student("li")); WsClient stu = open(Tokens.student("ls"))) {
      inst.send("{\"type\":\"join\",\"room\":\"live:p1\",\"token\":\"" + Tokens.roomToken("li", "live:p1", "instructor") + "\"}");
      inst.expect("joined");
      stu.send("{\"type\":\"join\",\"room\":\"live:p1\",\"token\":\"" + Tokens.roomToken("ls", "live:p1", "student") + "\"}");
      stu.expect("joined");
      assertEquals("ls", inst.expect("presence_diff").get("joined").get(0).get("userId").asText());
      stu.send("{\"type\":\"presence\",\"room\":\"live:p1\"}");
      assertEquals("forbidden", stu.expect("error").get("code").asText());
      inst.send("{\"type\":\"presence\",\"room\":\"live:p1\"}");
      JsonNode users = inst.expect("presence").get("users");
      assertEquals("instructor", find(users, "li").get("role").asText());
      assertEquals("student", find(users, "ls").get("role").asText());
    }
  }

  @Test
  void aSocketDroppedWithoutACloseFrameLeavesPresence() throws Exception {
    try (WsClient teacher = open(Tokens.instructor("t-drop", "202"))) {
      teacher.join("course:202");
      WsClient s = open(Tokens.student("dropper", "202"));
      s.join("course:202");
      teacher.expect("presence_diff");
      s.socket.abort(); // TCP gone, no close frame
      assertEquals("dropper", teacher.expect("presence_diff").get("left").get(0).asText());
      eventually(() -> userPresence("dropper"), p -> !p.get("online").asBoolean());
    }
  }

  @Test
  void removalKicksAllDevicesAndBarsOlderTokensOnly() throws Exception {
    String oldToken = Tokens.timed("kicked", 600, 10, "203");
    try (WsClient a = open(oldToken); WsClient b = open(oldToken); WsClient other = open(Tokens.student("stays", "203"))) {
      a.join("course:203");
      b.join("course:203");
      other.join("course:203");
      var r = NODE.get().delete("/api/v1/rooms/course:203/members/kicked", SERVICE);
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(2, WsClient.JSON.readTree(r.body()).get("removed").asInt());
      for (WsClient ws : new WsClient[] {a, b}) {
        JsonNode left = ws.expect("left");
        assertEquals("course:203", left.get("room").asText());
        assertEquals("removed", left.get("reason").asText());
      }
      assertFalse(find(roomPresence("course:203").get("users"), "stays") == null);
      assertEquals(null, find(roomPresence("course:203").get("users"), "kicked"));
      // removed sockets get no more events; the others do
      NODE.get().post("/api/v1/rooms/course:203/events", SERVICE, "{\"event\":\"after\"}");
      other.expect("event");
      // the old token cannot come back, on an existing socket or a new one. The room refuses the join
      // after it fanned out "after", through the same hub: the refusal being a's next frame proves
      // that "after" did not reach a
      a.send("{\"type\":\"join\",\"room\":\"course:203\",\"id\":\"again\"}");
      assertEquals("forbidden", a.expect("error").get("code").asText());
      try (WsClient fresh = open(oldToken)) {
        fresh.send("{\"type\":\"join\",\"room\":\"course:203\"}");
        assertEquals("forbidden", fresh.expect("error").get("code").asText());
      }
      // a token issued after the removal (the platform re-enrolled them) can: one issued in the next
      // second (iat has second resolution), rather than waiting for that second
      try (WsClient renewed = open(Tokens.timed("kicked", 600, -1, "203"))) {
        renewed.join("course:203");
      }
      assertEquals(0, WsClient.JSON.readTree(NODE.get().delete("/api/v1/rooms/course:204/members/nobody", SERVICE).body()).get("removed").asInt());
      assertEquals(400, NODE.get().delete("/api/v1/rooms/bad/members/x", SERVICE).statusCode());
      assertEquals(403, NODE.get().delete("/api/v1/rooms/course:203/members/x", Tokens.admin("a")).statusCode());
    }
  }

  /**
   * Issue 22: in a live room a removal bars the socket while either of its credentials predates it
   * (contract §9: join, publish, presence). A room token minted after the removal does not readmit a
   * socket whose access token is older; after a refresh with a newer access token, it does.
   */
  @Test
  void aLiveRoomRemovalIsNotUndoneByAFreshRoomToken() throws Exception {
    String room = "live:205";
    try (WsClient ws = open(Tokens.timed("lr-kicked", 600, 10))) {
      ws.send(joinLive(room, "j1", Tokens.roomToken("lr-kicked", room, "instructor")));
      ws.expect("joined");
      var r = NODE.get().delete("/api/v1/rooms/" + room + "/members/lr-kicked", SERVICE);
      assertEquals(1, WsClient.JSON.readTree(r.body()).get("removed").asInt(), r.body());
      assertEquals("removed", ws.expect("left").get("reason").asText());
      // issued in a later second than the removal, without waiting for one (a future iat is accepted, §1)
      Instant later = Instant.now().plusSeconds(2);
      String freshRoomToken = Tokens.builder("lr-kicked").issuedAt(Date.from(later)).claim("room", room).claim("role", "instructor").compact();
      ws.send(joinLive(room, "j2", freshRoomToken));
      JsonNode refused = ws.expect("error");
      assertEquals("forbidden", refused.get("code").asText(), refused.toString());
      assertEquals("j2", refused.get("id").asText());
      ws.send("{\"type\":\"publish\",\"room\":\"" + room + "\",\"id\":\"p\",\"event\":\"hand\"}");
      assertEquals("not_joined", ws.expect("error").get("code").asText());
      ws.send("{\"type\":\"presence\",\"room\":\"" + room + "\",\"id\":\"q\"}");
      assertEquals("forbidden", ws.expect("error").get("code").asText());

      // a newer access token alone does not do it either: the old room token still predates the removal
      try (WsClient renewed = open(Tokens.timed("lr-kicked", 600, -2))) {
        renewed.send(joinLive(room, "j3", Tokens.roomToken("lr-kicked", room, "instructor")));
        assertEquals("forbidden", renewed.expect("error").get("code").asText());
      }
      // both newer: the platform let the user back in
      ws.send("{\"type\":\"refresh\",\"id\":\"r\",\"token\":\"" + Tokens.timed("lr-kicked", 600, -2) + "\"}");
      ws.expect("refreshed");
      ws.send(joinLive(room, "j4", freshRoomToken));
      assertEquals("j4", ws.expect("joined").get("id").asText());
      ws.send("{\"type\":\"presence\",\"room\":\"" + room + "\",\"id\":\"q2\"}");
      assertEquals("lr-kicked", ws.expect("presence").get("users").get(0).get("userId").asText());
    }
  }

  static String joinLive(String room, String id, String roomToken) {
    return "{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"" + id + "\",\"token\":\"" + roomToken + "\"}";
  }

  @Test
  void fiveThousandOnlineStudentsAreOneQueryAway() throws Exception {
    var system = NODE.get().node.system();
    var hub = system.systemActorOf(org.apache.pekko.actor.typed.javadsl.Behaviors.<lms.realtime.fanout.Hub.Command>ignore(), "presence-test-hub", org.apache.pekko.actor.typed.Props.empty());
    var room = NODE.get().node.context().sharding().entityRefFor(Room.KEY, "course:5000");
    int n = 5000;
    for (int i = 0; i < n; i++) {
      var conn = system.systemActorOf(org.apache.pekko.actor.typed.javadsl.Behaviors.<lms.realtime.fanout.MemberInbox>ignore(), "fake-conn-" + i, org.apache.pekko.actor.typed.Props.empty());
      room.tell(new Room.Join(conn, hub, null, "student-" + i, "Student " + i, "student", false, null, null, false));
    }
    JsonNode users = eventually(() -> roomPresence("course:5000").get("users"), u -> u.size() == n);
    assertEquals(n, users.size());
    long start = System.nanoTime();
    int queries = 20;
    for (int i = 0; i < queries; i++) {
      assertEquals(n, roomPresence("course:5000").get("users").size());
    }
    System.out.printf("presence of a %d-user room over HTTP: %.2f ms per query (mean of %d)%n",
        n, (System.nanoTime() - start) / 1e6 / queries, queries);
  }

  static JsonNode find(JsonNode users, String userId) {
    for (JsonNode u : users) {
      if (userId.equals(u.get("userId").asText())) {
        return u;
      }
    }
    return null;
  }
}

package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Contract §3/§4: every frame and room rule, through real sockets on one node. */
@Tag("socket")
class FramesTest {
  static final Duration QUIET = Duration.ofMillis(300);
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass();

  static WsClient open(String token) {
    return NODE.get().open(token);
  }

  static JsonNode error(WsClient ws, String code) {
    JsonNode e = ws.expect("error");
    assertEquals(code, e.get("code").asText(), e.toString());
    assertTrue(e.hasNonNull("message"));
    return e;
  }

  @Test
  void pingIsAnsweredWithPongCarryingTheId() {
    try (WsClient ws = open(Tokens.student("p1"))) {
      ws.send("{\"type\":\"ping\",\"id\":\"p-7\"}");
      assertEquals("p-7", ws.expect("pong").get("id").asText());
    }
  }

  @Test
  void courseRoomIsForEnrolledUsersOnly() {
    try (WsClient ws = open(Tokens.student("c1", "42"))) {
      JsonNode joined = ws.join("course:42");
      assertEquals("course:42", joined.get("room").asText());
      assertEquals("j-course:42", joined.get("id").asText());
      assertTrue(joined.hasNonNull("epoch"));
      ws.send("{\"type\":\"join\",\"room\":\"course:77\",\"id\":\"j2\"}");
      assertEquals("j2", error(ws, "forbidden").get("id").asText());
    }
  }

  @Test
  void onlyInstructorsPublishInACourseAndEveryMemberReceivesInSeqOrder() {
    try (WsClient teacher = open(Tokens.instructor("t1", "50"));
        WsClient s1 = open(Tokens.student("s1", "50"));
        WsClient s2 = open(Tokens.student("s2", "50"))) {
      // students first: the teacher sees presence diffs for members who join after it
      s1.join("course:50");
      s2.join("course:50");
      teacher.join("course:50");
      s1.send("{\"type\":\"publish\",\"room\":\"course:50\",\"event\":\"x\",\"data\":1,\"id\":\"sp\"}");
      assertEquals("sp", error(s1, "forbidden").get("id").asText());

      int n = 30;
      for (int i = 1; i <= n; i++) {
        teacher.send("{\"type\":\"publish\",\"room\":\"course:50\",\"event\":\"slide\",\"data\":{\"n\":" + i + "},\"id\":\"a" + i + "\"}");
      }
      for (WsClient student : new WsClient[] {s1, s2}) {
        for (int i = 1; i <= n; i++) {
          JsonNode e = student.expect("event");
          assertEquals(i, e.get("seq").asLong());
          assertEquals(i, e.get("data").get("n").asInt());
          assertEquals("slide", e.get("event").asText());
          assertEquals("t1", e.get("from").asText());
          assertEquals("course:50", e.get("room").asText());
          assertTrue(e.get("ts").asLong() > 0);
          assertTrue(e.hasNonNull("epoch"));
        }
      }
      // the publisher sees its own event, then the ack with that seq
      for (int i = 1; i <= n; i++) {
        assertEquals(i, teacher.expect("event").get("seq").asLong());
        JsonNode ack = teacher.expect("ack");
        assertEquals("a" + i, ack.get("id").asText());
        assertEquals(i, ack.get("seq").asLong());
      }
    }
  }

  @Test
  void publishingIntoARoomNotJoinedIsNotJoined() {
    try (WsClient teacher = open(Tokens.instructor("t2", "51"))) {
      teacher.send("{\"type\":\"publish\",\"room\":\"course:51\",\"event\":\"x\",\"data\":{},\"id\":\"q\"}");
      assertEquals("q", error(teacher, "not_joined").get("id").asText());
    }
  }

  @Test
  void leaveAnswersLeftAndStopsEvents() {
    try (WsClient teacher = open(Tokens.instructor("t3", "52")); WsClient s = open(Tokens.student("s3", "52"))) {
      s.join("course:52");
      teacher.join("course:52");
      s.send("{\"type\":\"leave\",\"room\":\"course:52\",\"id\":\"l1\"}");
      JsonNode left = s.expect("left");
      assertEquals("course:52", left.get("room").asText());
      assertEquals("l1", left.get("id").asText());
      assertEquals("s3", teacher.expect("presence_diff").get("left").get(0).asText());
      teacher.send("{\"type\":\"publish\",\"room\":\"course:52\",\"event\":\"x\",\"data\":null}");
      teacher.expect("event");
      s.send("{\"type\":\"publish\",\"room\":\"course:52\",\"event\":\"x\",\"data\":null}");
      error(s, "not_joined");
      // the marker (the not_joined comes from s's own connection, in no order with the room): the
      // room takes s's join after it fanned out the teacher's event, and the hub that would have
      // delivered that event delivers the joined, so joined being s's next frame proves the event did not come
      s.join("course:52");
    }
  }

  @Test
  void liveRoomNeedsAValidRoomTokenForThisUserAndRoom() {
    try (WsClient ws = open(Tokens.student("l1"))) {
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\"}");
      error(ws, "forbidden");
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\",\"token\":\"" + Tokens.roomToken("someone", "live:s1", "student") + "\"}");
      error(ws, "forbidden");
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\",\"token\":\"" + Tokens.roomToken("l1", "live:other", "student") + "\"}");
      error(ws, "forbidden");
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\",\"token\":\"not-a-jwt\"}");
      error(ws, "forbidden");
      String expired = Tokens.builder("l1").claim("room", "live:s1").claim("role", "student")
          .expiration(new java.util.Date(System.currentTimeMillis() - 120_000)).compact();
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\",\"token\":\"" + expired + "\"}");
      error(ws, "forbidden");
      ws.send("{\"type\":\"join\",\"room\":\"live:s1\",\"token\":\"" + Tokens.roomToken("l1", "live:s1", "student") + "\"}");
      ws.expect("joined");
    }
  }

  @Test
  void anyLiveRoomMemberPublishes() {
    try (WsClient a = open(Tokens.student("la")); WsClient b = open(Tokens.student("lb"))) {
      a.send("{\"type\":\"join\",\"room\":\"live:s2\",\"token\":\"" + Tokens.roomToken("la", "live:s2", "student") + "\"}");
      a.expect("joined");
      b.send("{\"type\":\"join\",\"room\":\"live:s2\",\"token\":\"" + Tokens.roomToken("lb", "live:s2", "student") + "\"}");
      b.expect("joined");
      a.send("{\"type\":\"publish\",\"room\":\"live:s2\",\"event\":\"hand_raised\",\"data\":{},\"id\":\"h\"}");
      JsonNode e = b.expect("event");
      assertEquals("hand_raised", e.get("event").asText());
      assertEquals("la", e.get("from").asText());
      a.expect("event");
      assertEquals(1, a.expect("ack").get("seq").asLong());
    }
  }

  @Test
  void userRoomIsJoinedAutomaticallyAndSyncsTheUsersDevices() {
    try (WsClient phone = open(Tokens.student("dev")); WsClient laptop = open(Tokens.student("dev"));
        WsClient stranger = open(Tokens.student("stranger"))) {
      // no join needed: a publish into the own user room reaches every device of the user
      phone.send("{\"type\":\"publish\",\"room\":\"user:dev\",\"event\":\"progress\",\"data\":{\"percent\":40},\"id\":\"pr\"}");
      JsonNode onLaptop = laptop.expect("event");
      assertEquals(40, onLaptop.get("data").get("percent").asInt());
      assertEquals("user:dev", onLaptop.get("room").asText());
      phone.expect("event");
      phone.expect("ack");
      stranger.send("{\"type\":\"join\",\"room\":\"user:dev\"}");
      error(stranger, "forbidden");
      stranger.send("{\"type\":\"publish\",\"room\":\"user:dev\",\"event\":\"x\",\"data\":1}");
      error(stranger, "forbidden"); // another user's own room (issue 12: was not_joined)
      stranger.expectNothing(QUIET);
      // joining the own user room explicitly answers joined with the position
      JsonNode joined = laptop.join("user:dev");
      assertEquals(1, joined.get("seq").asLong());
    }
  }

  @Test
  void malformedFramesGetBadRequestAndTheSocketStaysOpen() {
    try (WsClient ws = open(Tokens.student("bad", "42"))) {
      for (String frame : new String[] {
          "{not json", "[1,2]", "\"hello\"", "{}", "{\"type\":5}", "{\"type\":\"join\"}", "{\"type\":\"join\",\"room\":5}",
          "{\"type\":\"publish\",\"room\":\"course:42\",\"data\":{}}", "{\"type\":\"publish\",\"room\":\"course:42\",\"event\":\"\"}",
          "{\"type\":\"join\",\"room\":\"course:42\",\"since\":{\"epoch\":1,\"seq\":\"x\"}}",
          "{\"type\":\"join\",\"room\":\"course:42\",\"since\":{\"epoch\":\"e\",\"seq\":-1}}",
          "{\"type\":\"ping\",\"id\":7}", "{\"type\":\"join\",\"room\":\"nowhere:1\"}", "{\"type\":\"join\",\"room\":\"course:\"}",
          "{\"type\":\"presence\"}", "{\"type\":\"leave\",\"room\":\"bad name\"}"}) {
        ws.send(frame);
        error(ws, "bad_request");
      }
      ws.send("{\"type\":\"shout\",\"id\":\"u\"}");
      assertEquals("u", error(ws, "unknown_type").get("id").asText());
      ws.send("{\"type\":\"ping\"}");
      ws.expect("pong");
      assertFalse(ws.closed().isDone());
    }
  }

  @Test
  void errorsCarryTheRequestIdWhenThereIsOne() {
    try (WsClient ws = open(Tokens.student("ids"))) {
      ws.send("{\"type\":\"join\",\"id\":\"r1\"}");
      assertEquals("r1", error(ws, "bad_request").get("id").asText());
    }
  }

  @Test
  void presenceFrameFollowsTheRoomTable() {
    try (WsClient teacher = open(Tokens.instructor("pt", "60")); WsClient s = open(Tokens.student("ps", "60"));
        WsClient admin = open(Tokens.admin("boss"))) {
      s.join("course:60");
      s.send("{\"type\":\"presence\",\"room\":\"course:60\",\"id\":\"pq\"}");
      assertEquals("pq", error(s, "forbidden").get("id").asText());
      teacher.send("{\"type\":\"presence\",\"room\":\"course:60\",\"id\":\"tq\"}");
      JsonNode p = teacher.expect("presence");
      assertEquals("tq", p.get("id").asText());
      assertEquals(1, p.get("users").size());
      assertEquals("ps", p.get("users").get(0).get("userId").asText());
      admin.send("{\"type\":\"presence\",\"room\":\"course:60\"}");
      assertEquals(1, admin.expect("presence").get("users").size());
      s.send("{\"type\":\"presence\",\"room\":\"user:ps\"}");
      assertEquals("user:ps", s.expect("presence").get("room").asText());
    }
  }
}

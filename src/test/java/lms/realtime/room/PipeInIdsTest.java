package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 22: ids with {@code |}, which room names allow (Auth0's {@code auth0|abc}), in every room
 * kind, durable (journal in H2, kept across a restart) or in memory. Before the fix a durable room
 * so named never started: the notification answered 503 after 5 s, a publish was never answered.
 */
@Tag("socket")
class PipeInIdsTest {
  static final String SERVICE = Tokens.service();
  static final String USER = "auth0|abc";
  static final String USER_ROOM = "user:" + USER;
  static final String COURSE_ROOM = "course:a|b";
  static final String LIVE_ROOM = "live:x|y";

  @Test
  void durableRoomsOfEveryKindKeepTheirStreamAcrossARestart() throws Exception {
    Map<String, Object> settings = Map.of("lms.durable.data-dir", TestNode.dataDir(), "lms.durable.rooms", "course,live,user");
    Map<String, JsonNode> last;
    try (TestNode node = TestNode.start(settings)) {
      last = useEveryKind(node);
    }
    try (TestNode node = TestNode.start(settings); WsClient ws = node.open(Tokens.student(USER, "a|b"))) {
      for (var room : last.entrySet()) {
        String epoch = room.getValue().get("epoch").asText();
        long seq = room.getValue().get("seq").asLong();
        String token = room.getKey().equals(LIVE_ROOM) ? ",\"token\":\"" + Tokens.roomToken(USER, LIVE_ROOM, "student") + "\"" : "";
        ws.send("{\"type\":\"join\",\"room\":\"" + room.getKey() + "\",\"id\":\"rj\"" + token
            + ",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":0}}");
        JsonNode joined = ws.expect("joined");
        assertTrue(joined.get("recovered").asBoolean(), joined.toString());
        assertEquals(epoch, joined.get("epoch").asText(), "the epoch survived the restart: " + joined);
        assertEquals(seq, joined.get("seq").asLong(), joined.toString());
        assertEquals(seq, joined.get("missed").size(), joined.toString());
      }
    }
  }

  @Test
  void memoryRoomsOfEveryKind() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", ""))) {
      useEveryKind(node);
    }
  }

  /**
   * A kept notification, a socket's publish into its own room, a backend event in a course, a
   * socket's publish in a live room: each answered and delivered. Returns each room's last frame.
   */
  private static Map<String, JsonNode> useEveryKind(TestNode node) throws Exception {
    Map<String, JsonNode> last = new LinkedHashMap<>();
    try (WsClient ws = node.open(Tokens.student(USER, "a|b"))) {
      HttpResponse<String> sent = node.post("/api/v1/users/auth0%7Cabc/notifications", SERVICE, "{\"event\":\"grade.posted\",\"data\":{}}");
      assertEquals(202, sent.statusCode(), sent.body());
      JsonNode answer = WsClient.JSON.readTree(sent.body());
      assertEquals(1, answer.get("delivered").asInt(), sent.body());
      JsonNode note = ws.await("notification");
      assertEquals(USER_ROOM, note.get("room").asText());
      assertEquals(answer.get("seq").asLong(), note.get("seq").asLong());
      ws.send("{\"type\":\"publish\",\"room\":\"" + USER_ROOM + "\",\"id\":\"p\",\"event\":\"notification.read\",\"data\":{\"seq\":1}}");
      last.put(USER_ROOM, ws.await("event"));
      assertEquals(note.get("seq").asLong() + 1, ws.expect("ack").get("seq").asLong());

      ws.join(COURSE_ROOM);
      HttpResponse<String> event = node.post("/api/v1/rooms/course:a%7Cb/events", SERVICE, "{\"event\":\"lesson\"}");
      assertEquals(202, event.statusCode(), event.body());
      last.put(COURSE_ROOM, ws.await("event"));
      assertEquals(COURSE_ROOM, last.get(COURSE_ROOM).get("room").asText());

      ws.send("{\"type\":\"join\",\"room\":\"" + LIVE_ROOM + "\",\"id\":\"j\",\"token\":\"" + Tokens.roomToken(USER, LIVE_ROOM, "student") + "\"}");
      ws.expect("joined");
      ws.send("{\"type\":\"publish\",\"room\":\"" + LIVE_ROOM + "\",\"id\":\"p2\",\"event\":\"hand\"}");
      last.put(LIVE_ROOM, ws.expect("event"));
      assertEquals(1, ws.expect("ack").get("seq").asLong());
    }
    return last;
  }
}

package lms.realtime.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Map;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Contract §9, in-band refresh, through real sockets (no clock skew here, so a token's {@code exp}
 * is the socket's 4001 deadline): a new token of the same user moves the deadline and answers
 * {@code refreshed}; a course its claims no longer hold is left with {@code revoked}; another
 * user's token, an invalid one or none change nothing.
 */
class RefreshTest {
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of("lms.jwt.clock-skew-seconds", 0));

  static void refresh(WsClient ws, String id, String token) {
    ws.send("{\"type\":\"refresh\",\"id\":\"" + id + "\",\"token\":\"" + token + "\"}");
  }

  @Test
  void aRefreshMovesTheTokenDeadline() throws Exception {
    try (WsClient refreshed = NODE.get().open(Tokens.timed("rf-1", 3, 0, "1"));
        WsClient expiring = NODE.get().open(Tokens.timed("rf-2", 3, 0, "1"))) {
      refresh(refreshed, "r1", Tokens.timed("rf-1", 120, 0, "1"));
      JsonNode answer = refreshed.expect("refreshed");
      assertEquals("r1", answer.get("id").asText());
      assertTrue(answer.get("exp").asLong() > System.currentTimeMillis() / 1000 + 100, answer.toString());
      assertEquals(4001, expiring.awaitClose(Duration.ofSeconds(10)).code(), "the control socket's token expired");
      refreshed.send("{\"type\":\"ping\",\"id\":\"p\"}");
      assertEquals("p", refreshed.await("pong").get("id").asText(), "the refreshed socket is open past the old exp");
      assertFalse(refreshed.closed().isDone());
    }
  }

  @Test
  void aCourseTheNewClaimsDropIsLeftAsRevoked() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.student("rf-3", "31", "32"))) {
      ws.join("course:31");
      ws.join("course:32");
      refresh(ws, "r", Tokens.student("rf-3", "31"));
      // refreshed comes from the socket, left through the room: in either order
      JsonNode left = null;
      JsonNode refreshed = null;
      while (left == null || refreshed == null) {
        JsonNode f = ws.next();
        if ("left".equals(f.get("type").asText())) {
          left = f;
        } else if ("refreshed".equals(f.get("type").asText())) {
          refreshed = f;
        }
      }
      assertEquals("course:32", left.get("room").asText());
      assertEquals("revoked", left.get("reason").asText());
      assertEquals("r", refreshed.get("id").asText());
      ws.send("{\"type\":\"publish\",\"id\":\"p\",\"room\":\"course:32\",\"event\":\"x\"}");
      assertEquals("forbidden", ws.await("error").get("code").asText());
      ws.send("{\"type\":\"presence\",\"id\":\"q\",\"room\":\"course:31\"}");
      assertEquals("forbidden", ws.await("error").get("code").asText(), "a student, still in course:31");
      NODE.get().post("/api/v1/rooms/course:31/events", Tokens.service(), "{\"event\":\"still\"}");
      assertEquals("still", ws.await("event").get("event").asText(), "course:31 is still joined");
    }
  }

  @Test
  void anotherUsersTokenAnInvalidOneOrNoneChangeNothing() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.timed("rf-4", 3, 0, "41"))) {
      ws.join("course:41");
      refresh(ws, "other", Tokens.student("rf-someone-else", "41"));
      JsonNode forbidden = ws.await("error");
      assertEquals("forbidden", forbidden.get("code").asText());
      assertEquals("other", forbidden.get("id").asText());
      refresh(ws, "bad", "not.a.jwt");
      assertEquals("unauthorized", ws.await("error").get("code").asText());
      ws.send("{\"type\":\"refresh\",\"id\":\"none\"}");
      assertEquals("bad_request", ws.await("error").get("code").asText());
      NODE.get().post("/api/v1/rooms/course:41/events", Tokens.service(), "{\"event\":\"still\"}");
      assertEquals("still", ws.await("event").get("event").asText(), "still joined");
      assertEquals(4001, ws.awaitClose(Duration.ofSeconds(10)).code(), "the deadline did not move");
    }
  }
}

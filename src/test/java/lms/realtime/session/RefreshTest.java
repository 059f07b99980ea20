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
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Contract §9, in-band refresh, through real sockets (no clock skew here, so a token's {@code exp}
 * is the socket's 4001 deadline): a new token of the same user moves the deadline and answers
 * {@code refreshed}; a course its claims no longer hold is left with {@code revoked}; another
 * user's token, an invalid one or none change nothing.
 */
@Tag("socket")
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

  /** 20 KB with base64: the padding goes in twice, each claim under the verifier's 16 KiB string bound. */
  private static final String PADDING = "x".repeat(7_500);

  /**
   * Issue 22: the handshake refuses a token over lms.jwt.max-token-bytes, and so does a refresh (the
   * frame bound, 64 KiB, used to be the only one there): a valid token of 20 KB changes nothing.
   */
  @Test
  void aRefreshWithATokenOverTheLengthBoundIsUnauthorized() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.timed("rf-5", 3, 0, "51"))) {
      refresh(ws, "long", Tokens.builder("rf-5").claim("pad", PADDING).claim("pad2", PADDING).compact());
      JsonNode refused = ws.expect("error");
      assertEquals("unauthorized", refused.get("code").asText(), refused.toString());
      assertEquals("long", refused.get("id").asText());
      assertTrue(refused.get("message").asText().contains("token longer than 8192 bytes"), refused.toString());
      assertEquals(4001, ws.awaitClose(Duration.ofSeconds(10)).code(), "the deadline did not move");
    }
  }

  /** Issue 22: a room token is held to the same bound; a longer one is forbidden, as room token errors are. */
  @Test
  void aRoomTokenOverTheLengthBoundIsForbidden() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.student("rf-6"))) {
      String roomToken = Tokens.builder("rf-6").claim("room", "live:61").claim("role", "student")
          .claim("pad", PADDING).claim("pad2", PADDING).compact();
      ws.send("{\"type\":\"join\",\"id\":\"j\",\"room\":\"live:61\",\"token\":\"" + roomToken + "\"}");
      JsonNode forbidden = ws.expect("error");
      assertEquals("forbidden", forbidden.get("code").asText(), forbidden.toString());
      assertEquals("j", forbidden.get("id").asText());
      assertTrue(forbidden.get("message").asText().contains("token longer than 8192 bytes"), forbidden.toString());
      ws.send("{\"type\":\"publish\",\"id\":\"p\",\"room\":\"live:61\",\"event\":\"x\"}");
      assertEquals("not_joined", ws.expect("error").get("code").asText(), "the room was not joined");
    }
  }
}

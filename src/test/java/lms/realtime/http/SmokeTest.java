package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Test;

class SmokeTest {
  @Test
  void backendEventReachesASocketInTheCourse() throws Exception {
    try (TestNode node = TestNode.start(); WsClient ws = node.connect(Tokens.student("u1", "42"))) {
      JsonNode welcome = ws.expect("welcome");
      assertEquals("u1", welcome.get("userId").asText());
      JsonNode joined = ws.join("course:42");
      assertEquals(0, joined.get("seq").asLong());
      var r = node.post("/api/v1/rooms/course:42/events", Tokens.service(), "{\"event\":\"lesson\",\"data\":{\"n\":1}}");
      assertEquals(202, r.statusCode(), r.body());
      JsonNode event = ws.expect("event");
      assertEquals(1, event.get("seq").asLong());
      assertEquals("backend", event.get("from").asText());
      ws.send("{\"type\":\"foo\"}");
      assertEquals("unknown_type", ws.expect("error").get("code").asText());
      ws.send("{\"type\":\"join\",\"room\":\"x\"".repeat(1) + "}".repeat(0) + "{");
      assertEquals("bad_request", ws.expect("error").get("code").asText());
    }
  }
}

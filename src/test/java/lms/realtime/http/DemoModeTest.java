package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import lms.realtime.Node;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Contract §7: --demo runs with nothing configured; without it and without a key the node refuses. */
@Tag("socket")
class DemoModeTest {
  @Test
  void withoutAKeyAndWithoutDemoTheNodeRefusesToStart() {
    var config = TestNode.config(Map.of("lms.jwt.secret", ""));
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Node.start(config, false));
    assertTrue(e.getMessage().contains("LMS_JWT_SECRET"), e.getMessage());
  }

  @Test
  void demoModeServesThePageMintsTokensAndTheyWork() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.jwt.secret", ""), true)) {
      var page = node.get("/", null);
      assertEquals(200, page.statusCode());
      assertTrue(page.body().contains("<html"), "the demo page");
      var sdk = node.get("/sdk/lms-realtime.js", null);
      assertEquals(200, sdk.statusCode());
      assertTrue(sdk.body().contains("RealtimeClient"));
      assertEquals("*", sdk.headers().firstValue("Access-Control-Allow-Origin").orElse(""));
      var types = node.get("/sdk/lms-realtime.d.ts", null);
      assertEquals(200, types.statusCode());
      assertTrue(types.body().contains("export declare class RealtimeClient"));
      assertEquals("application/typescript; charset=UTF-8", types.headers().firstValue("Content-Type").orElse(""));
      assertEquals("*", types.headers().firstValue("Access-Control-Allow-Origin").orElse(""));

      JsonNode minted = WsClient.JSON.readTree(node.get("/demo/token?user=ada&name=Ada&role=student", null).body());
      JsonNode service = WsClient.JSON.readTree(node.get("/demo/service-token", null).body());
      try (WsClient ws = node.connect(minted.get("token").asText())) {
        ws.expect("welcome");
        ws.join(minted.get("courseRoom").asText());
        var r = node.post("/api/v1/rooms/" + minted.get("courseRoom").asText() + "/events", service.get("token").asText(),
            "{\"event\":\"announcement\",\"data\":{\"text\":\"hello\"}}");
        assertEquals(202, r.statusCode());
        assertEquals("hello", ws.expect("event").get("data").get("text").asText());
        ws.send("{\"type\":\"join\",\"room\":\"" + minted.get("liveRoom").asText() + "\",\"token\":\"" + minted.get("liveToken").asText() + "\"}");
        ws.expect("joined");
      }
      assertEquals(400, node.get("/demo/token?user=ada&role=king", null).statusCode());

      // ttl: the tokens' lifetime, for trying in-band refresh (default 1 h, 10 s to 1 day)
      long now = System.currentTimeMillis() / 1000;
      JsonNode brief = WsClient.JSON.readTree(node.get("/demo/token?user=ada&ttl=20", null).body());
      for (String field : new String[] {"token", "liveToken"}) {
        long exp = claims(brief.get(field).asText()).get("exp").asLong();
        assertTrue(exp >= now + 19 && exp <= now + 22, field + " exp " + exp + ", now " + now);
      }
      long hour = claims(minted.get("token").asText()).get("exp").asLong();
      assertTrue(hour >= now + 3590 && hour <= now + 3602, "default 1 h: exp " + hour);
      for (String bad : new String[] {"9", "86401", "soon", "-5"}) {
        var r = node.get("/demo/token?user=ada&ttl=" + bad, null);
        assertEquals(400, r.statusCode(), bad + " -> " + r.body());
        assertTrue(r.body().contains("ttl"), r.body());
      }
    }
  }

  /** The claims of a JWS (read, not verified: the node verified it above). */
  private static JsonNode claims(String jws) throws Exception {
    return WsClient.JSON.readTree(java.util.Base64.getUrlDecoder().decode(jws.split("\\.")[1]));
  }

  @Test
  void withoutDemoThereAreNoDemoRoutes() {
    try (TestNode node = TestNode.start()) {
      assertEquals(404, node.get("/demo/service-token", null).statusCode());
    }
  }
}

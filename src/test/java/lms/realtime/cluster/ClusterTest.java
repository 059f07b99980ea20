package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Three nodes in one JVM, one engine: events, presence, limits and notifications across nodes. */
@Tag("socket")
class ClusterTest {
  static final String SERVICE = Tokens.service();
  static List<TestNode> nodes;

  @BeforeAll
  static void start() {
    nodes = TestNode.cluster(3, Map.of("lms.limits.max-connections-per-user", 2));
  }

  @AfterAll
  static void stop() {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      nodes.get(i).close();
    }
  }

  static WsClient open(int node, String token) {
    WsClient ws = nodes.get(node).connect(token);
    ws.expect("welcome");
    return ws;
  }

  @Test
  void anEventPublishedAtAnyNodeReachesEveryMemberOnEveryNodeOnceInOrder() throws Exception {
    WsClient[] members = new WsClient[6];
    for (int i = 0; i < members.length; i++) {
      members[i] = open(i % 3, Tokens.student("cm" + i, "1000"));
      members[i].join("course:1000");
    }
    int events = 60;
    for (int i = 1; i <= events; i++) {
      var r = nodes.get(i % 3).post("/api/v1/rooms/course:1000/events", SERVICE, "{\"event\":\"e\",\"data\":{\"n\":" + i + "}}");
      assertEquals(202, r.statusCode(), r.body());
    }
    for (WsClient ws : members) {
      for (int i = 1; i <= events; i++) {
        JsonNode e = ws.expect("event");
        assertEquals(i, e.get("seq").asLong());
        assertEquals(i, e.get("data").get("n").asInt());
      }
      ws.expectNothing(Duration.ofMillis(200));
      ws.close();
    }
  }

  @Test
  void socketPublishAndPresenceAcrossNodes() throws Exception {
    WsClient teacher = open(0, Tokens.instructor("ct", "1001"));
    teacher.join("course:1001");
    WsClient s1 = open(1, Tokens.student("cs", "1001"));
    WsClient s2 = open(2, Tokens.student("cs", "1001"));
    s1.join("course:1001");
    JsonNode diff = teacher.expect("presence_diff");
    assertEquals("cs", diff.get("joined").get(0).get("userId").asText());
    s2.join("course:1001");
    teacher.expectNothing(Duration.ofMillis(300));
    var presence = WsClient.JSON.readTree(nodes.get(2).get("/api/v1/rooms/course:1001/presence", SERVICE).body());
    for (JsonNode u : presence.get("users")) {
      if (u.get("userId").asText().equals("cs")) {
        assertEquals(2, u.get("connections").asInt());
      }
    }
    var user = WsClient.JSON.readTree(nodes.get(0).get("/api/v1/users/cs/presence", SERVICE).body());
    assertEquals(2, user.get("connections").asInt());

    teacher.send("{\"type\":\"publish\",\"room\":\"course:1001\",\"event\":\"slide\",\"data\":{},\"id\":\"p\"}");
    assertEquals("slide", s1.expect("event").get("event").asText());
    assertEquals("slide", s2.expect("event").get("event").asText());
    teacher.expect("event");
    assertEquals("p", teacher.expect("ack").get("id").asText());

    s1.close();
    s2.close();
    assertEquals("cs", teacher.expect("presence_diff").get("left").get(0).asText());
    teacher.close();
  }

  @Test
  void thePerUserLimitAndNotificationsAreClusterWide() throws Exception {
    WsClient a = open(0, Tokens.student("lim"));
    WsClient b = open(1, Tokens.student("lim"));
    var refused = assertThrows(WsClient.HandshakeRefused.class, () -> nodes.get(2).connect(Tokens.student("lim")));
    assertEquals(429, refused.status);
    var r = nodes.get(2).post("/api/v1/users/lim/notifications", SERVICE, "{\"event\":\"grade\",\"data\":1}");
    assertEquals(2, WsClient.JSON.readTree(r.body()).get("delivered").asInt());
    a.expect("notification");
    b.expect("notification");
    a.close();
    WsClient c = nodes.get(2).connectOnceFreed(Tokens.student("lim"));
    c.expect("welcome");
    c.close();
    b.close();
  }
}

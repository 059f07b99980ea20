package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.room.Room;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 12: messages between nodes that can grow (a joined frame with its missed events, a presence
 * answer) went over Artery's 256 KiB frame and were dropped without a word: the socket counted in
 * presence and received nothing. They go by the large-message stream now, and what can grow is
 * bounded below its frame.
 */
@Tag("socket")
class LargeMessagesTest {
  static final String SERVICE = Tokens.service();
  static List<TestNode> nodes;

  @BeforeAll
  static void start() {
    nodes = TestNode.cluster(2, Map.of("lms.history.size", 300));
  }

  @AfterAll
  static void stop() {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      nodes.get(i).close();
    }
  }

  static double roomsActive(TestNode node) {
    return node.metric("lms_rooms_active");
  }

  /** A course room whose entity runs on node 0 (found by trying names and watching node 0's room count). */
  static String roomOnNodeZero(String prefix) throws Exception {
    for (int i = 0; i < 200; i++) {
      String room = "course:" + prefix + i;
      double before = roomsActive(nodes.get(0));
      // a room counts itself as it starts, before it answers the publish: no wait needed
      assertEquals(202, nodes.get(1).post("/api/v1/rooms/" + room + "/events", SERVICE, "{\"event\":\"probe\"}").statusCode());
      if (roomsActive(nodes.get(0)) > before) {
        return room;
      }
    }
    throw new AssertionError("no room landed on node 0");
  }

  @Test
  void recoveryOf200EventsOf2KbFromANodeThatDoesNotOwnTheRoom() throws Exception {
    String room = roomOnNodeZero("lm-");
    String course = room.substring("course:".length());
    String data = "d".repeat(2048);
    String epoch = null;
    long first = 0;
    for (int i = 0; i < 200; i++) {
      var r = nodes.get(0).post("/api/v1/rooms/" + room + "/events", SERVICE, "{\"event\":\"e\",\"data\":\"" + data + "\"}");
      assertEquals(202, r.statusCode(), r.body());
      JsonNode p = WsClient.JSON.readTree(r.body());
      epoch = p.get("epoch").asText();
      if (i == 0) {
        first = p.get("seq").asLong() - 1;
      }
    }
    try (WsClient ws = nodes.get(1).open(Tokens.student("far", course))) {
      ws.send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"j\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + first + "}}");
      String raw = ws.nextRaw(WsClient.WAIT);
      assertTrue(raw != null, "no joined frame: it was dropped between the nodes");
      JsonNode joined = WsClient.JSON.readTree(raw);
      System.out.printf("recovery across nodes: a %,d-byte joined frame with %d missed events%n", raw.length(), joined.get("missed").size());
      assertTrue(joined.get("recovered").asBoolean());
      assertEquals(200, joined.get("missed").size());
    }
  }

  @Test
  void presenceOfALargeRoomAcrossNodes() throws Exception {
    String room = roomOnNodeZero("big-");
    var system = nodes.get(0).node.system();
    var hub = system.systemActorOf(Behaviors.<Hub.Command>ignore(), "large-test-hub", Props.empty());
    var ref = nodes.get(0).node.context().sharding().entityRefFor(Room.KEY, room);
    int n = 4000;
    for (int i = 0; i < n; i++) {
      var conn = system.systemActorOf(Behaviors.<MemberInbox>ignore(), "large-test-" + i, Props.empty());
      ref.tell(new Room.Join(conn, hub, null, "student-with-a-longish-id-" + i, "Student " + i, "student", false, null, null, false));
    }
    var r = Eventually.within("presence of " + n + " users through the other node", Duration.ofSeconds(20), Duration.ofMillis(200),
        () -> nodes.get(1).get("/api/v1/rooms/" + room + "/presence", SERVICE),
        p -> p.statusCode() == 200 && users(p).size() == n);
    System.out.printf("presence of %d users through the other node: %,d bytes%n", n, r.body().length());
  }

  static JsonNode users(HttpResponse<String> presence) {
    try {
      return WsClient.JSON.readTree(presence.body()).get("users");
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }
}

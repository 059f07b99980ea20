package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import lms.realtime.room.Room;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.sharding.ShardRegion;
import org.apache.pekko.cluster.sharding.typed.GetShardRegionState;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Rooms that move (graceful leave) or lose their node (crash), with members on the other nodes. */
@Tag("socket")
class NodeLossTest {
  static final String SERVICE = Tokens.service();

  /** Rooms course:{from}.. are created through node 0 until one lives on the given node. */
  static String roomOn(List<TestNode> nodes, int target, int from) throws Exception {
    var system = nodes.get(target).node.system();
    for (int k = from; k < from + 200; k++) {
      String room = "course:" + k;
      publish(nodes.get(0), room, 0); // retries while a just-formed cluster settles
      if (hosts(nodes.get(target), room)) {
        return room;
      }
    }
    throw new AssertionError("no room landed on node " + target);
  }

  /** Whether the room's entity lives on this node now. */
  static boolean hosts(TestNode node, String room) {
    var system = node.node.system();
    try {
      ShardRegion.CurrentShardRegionState state = AskPattern.<org.apache.pekko.cluster.sharding.typed.ClusterShardingQuery, ShardRegion.CurrentShardRegionState>ask(
              ClusterSharding.get(system).shardState(),
              replyTo -> new GetShardRegionState(Room.KEY, replyTo), Duration.ofSeconds(5), system.scheduler())
          .toCompletableFuture().get(10, TimeUnit.SECONDS);
      return state.getShards().stream().anyMatch(shard -> shard.getEntityIds().contains(room));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static WsClient member(TestNode node, String user, String room) {
    WsClient ws = node.connect(Tokens.student(user, room.substring("course:".length())));
    ws.expect("welcome");
    ws.join(room);
    return ws;
  }

  /** A backend GET, retrying the 503s of the moments when an entity is between nodes. */
  static JsonNode getJson(TestNode node, String path) throws Exception {
    return through503(() -> node.get(path, SERVICE), 200, path);
  }

  /** Publishes, retrying the 503s of the moments when a room is between nodes. */
  static JsonNode publish(TestNode node, String room, int n) throws Exception {
    return through503(() -> node.post("/api/v1/rooms/" + room + "/events", SERVICE,
        "{\"event\":\"e\",\"data\":{\"n\":" + n + "}}"), 202, room);
  }

  static JsonNode through503(java.util.function.Supplier<java.net.http.HttpResponse<String>> call, int ok, String what)
      throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
    while (true) {
      var r = call.get();
      if (r.statusCode() == ok) {
        return WsClient.JSON.readTree(r.body());
      }
      assertEquals(503, r.statusCode(), r.body());
      assertTrue(System.nanoTime() < deadline, what + " unavailable for 40 s");
    }
  }

  @Test
  void aRoomHandedToAnotherNodeKeepsItsEpochHistoryAndMembers() throws Exception {
    List<TestNode> nodes = TestNode.cluster(3, Map.of());
    try {
      String room = roomOn(nodes, 2, 3000);
      WsClient a = member(nodes.get(0), "mv-a", room);
      WsClient b = member(nodes.get(1), "mv-b", room);
      WsClient c = member(nodes.get(2), "mv-c", room);
      String kickedToken = Tokens.student("mv-kicked", room.substring("course:".length()));
      assertEquals(200, nodes.get(0).delete("/api/v1/rooms/" + room + "/members/mv-kicked", SERVICE).statusCode());
      String epoch = null;
      long seqBefore = 0;
      for (int i = 1; i <= 5; i++) {
        JsonNode p = publish(nodes.get(0), room, i);
        epoch = p.get("epoch").asText();
        seqBefore = p.get("seq").asLong();
      }
      for (WsClient ws : new WsClient[] {a, b, c}) {
        for (int i = 1; i <= 5; i++) {
          assertEquals(i, ws.expect("event").get("data").get("n").asInt());
        }
      }
      nodes.get(2).close(); // a rolling-restart step: SIGTERM-equivalent
      assertEquals(1012, c.awaitClose(Duration.ofSeconds(20)).code());

      for (int i = 6; i <= 10; i++) {
        JsonNode p = publish(nodes.get(0), room, i);
        assertEquals(epoch, p.get("epoch").asText(), "the moved room keeps its epoch");
        assertEquals(seqBefore + i - 5, p.get("seq").asLong(), "and its numbering");
      }
      // members on the other nodes never noticed: every event once, in order
      for (WsClient ws : new WsClient[] {a, b}) {
        for (int i = 6; i <= 10; i++) {
          JsonNode e = ws.expect("event");
          assertEquals(i, e.get("data").get("n").asInt(), e.toString());
          assertEquals(epoch, e.get("epoch").asText());
        }
        ws.expectNothing(Duration.ofMillis(300));
      }
      // the client of the stopped node reconnects elsewhere and recovers everything it missed
      WsClient back = nodes.get(1).connect(Tokens.student("mv-c", room.substring("course:".length())));
      back.expect("welcome");
      back.send("{\"type\":\"join\",\"room\":\"" + room + "\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + seqBefore + "}}");
      JsonNode joined = back.expect("joined");
      assertTrue(joined.get("recovered").asBoolean(), joined.toString());
      assertEquals(5, joined.get("missed").size());
      assertEquals(6, joined.get("missed").get(0).get("data").get("n").asInt());
      // presence is whole again
      JsonNode users = WsClient.JSON.readTree(nodes.get(0).get("/api/v1/rooms/" + room + "/presence", SERVICE).body()).get("users");
      assertEquals(3, users.size(), users.toString());
      assertRemoved(nodes.get(1), kickedToken, room); // the removal moved with the room
      a.close();
      b.close();
      back.close();
    } finally {
      nodes.get(1).close();
      nodes.get(0).close();
    }
  }

  @Test
  void aCrashedNodesUsersLeavePresenceAndItsRoomsComeBackElsewhere() throws Exception {
    // node 2 dies without leaving: no coordinated shutdown, its sockets and actors just vanish
    List<TestNode> nodes = TestNode.cluster(3, CRASHABLE);
    try {
      String safeRoom = roomOn(nodes, 0, 4000);   // lives on a node that survives
      String lostRoom = roomOn(nodes, 2, 4300);   // lives on the node that dies
      String c1 = safeRoom.substring("course:".length());
      String c2 = lostRoom.substring("course:".length());
      WsClient teacher = nodes.get(0).connect(Tokens.instructor("cr-t", c1, c2));
      WsClient survivor = nodes.get(1).connect(Tokens.student("cr-s", c1, c2));
      WsClient victim = nodes.get(2).connect(Tokens.student("cr-v", c1, c2));
      for (WsClient ws : new WsClient[] {teacher, survivor, victim}) {
        ws.expect("welcome");
        ws.join(safeRoom);
        ws.join(lostRoom);
      }
      String kickedToken = Tokens.student("cr-kicked", c2);
      assertEquals(200, nodes.get(0).delete("/api/v1/rooms/" + lostRoom + "/members/cr-kicked", SERVICE).statusCode());
      String lostEpoch = publish(nodes.get(0), lostRoom, 1).get("epoch").asText();
      survivor.await("event");
      teacher.await("event");

      long crashedAt = System.nanoTime();
      crash(nodes.get(2));
      // until the others give the node up, its rooms do not answer: a 503 to retry, counted as a timeout
      var lost = nodes.get(0).post("/api/v1/rooms/" + lostRoom + "/events", SERVICE, "{\"event\":\"e\",\"data\":{}}");
      assertEquals(503, lost.statusCode(), lost.body());
      assertTrue(nodes.get(0).get("/metrics", null).body().contains("lms_http_failures_total{reason=\"timeout\"} 1.0"));

      // 1. in a room on a surviving node, the dead node's user leaves presence (membership + downing)
      JsonNode diff;
      do {
        diff = teacher.await("presence_diff", Duration.ofSeconds(40));
      } while (!(safeRoom.equals(diff.get("room").asText()) && diff.get("left").size() > 0));
      double healed = (System.nanoTime() - crashedAt) / 1e9;
      assertEquals("cr-v", diff.get("left").get(0).asText());
      assertTrue(healed < 30, "presence healed after " + healed + " s");
      System.out.printf("crash: presence healed %.1f s after the node died%n", healed);
      assertFalse(getJson(nodes.get(0), "/api/v1/users/cr-v/presence").get("online").asBoolean());

      // 2. the room that lived on the dead node comes back on a surviving one with its members,
      // without the dead node's; its history died with it, so the members are told to reload
      JsonNode next = publish(nodes.get(0), lostRoom, 2);
      assertFalse(next.get("epoch").asText().equals(lostEpoch), "a room whose history was lost has a new epoch");
      JsonNode[] resets = new JsonNode[2];
      WsClient[] stayed = {teacher, survivor};
      for (int i = 0; i < stayed.length; i++) {
        do {
          resets[i] = stayed[i].await("joined", Duration.ofSeconds(30));
        } while (!lostRoom.equals(resets[i].get("room").asText()));
        assertFalse(resets[i].get("recovered").asBoolean());
        assertEquals(next.get("epoch").asText(), resets[i].get("epoch").asText());
      }
      // the reset carries the new position (it may already count event 2, depending on whether the
      // hub came back before or after it); from there on events flow in order, none missed or twice
      JsonNode third = publish(nodes.get(0), lostRoom, 3);
      for (int i = 0; i < stayed.length; i++) {
        long expected = resets[i].get("seq").asLong() + 1;
        JsonNode e;
        do {
          do {
            e = stayed[i].await("event");
          } while (!lostRoom.equals(e.get("room").asText()));
          assertEquals(expected++, e.get("seq").asLong(), e.toString());
        } while (e.get("data").get("n").asInt() != 3);
        assertEquals(third.get("seq").asLong(), e.get("seq").asLong());
      }
      JsonNode users = getJson(nodes.get(1), "/api/v1/rooms/" + lostRoom + "/presence").get("users");
      assertEquals(2, users.size(), users.toString());
      // the history died with the node, the removal did not: the old token still cannot join
      assertRemoved(nodes.get(1), kickedToken, lostRoom);
      teacher.close();
      survivor.close();
      victim.close();
    } finally {
      nodes.get(1).close();
      nodes.get(0).close();
    }
  }

  /** A token issued before the user's removal from the room is refused there. */
  static void assertRemoved(TestNode node, String token, String room) {
    WsClient ws = node.connect(token);
    ws.expect("welcome");
    ws.send("{\"type\":\"join\",\"id\":\"r\",\"room\":\"" + room + "\"}");
    JsonNode refused = ws.expect("error");
    assertEquals("forbidden", refused.get("code").asText(), refused.toString());
    ws.close();
  }

  /** Nodes whose actor system can be terminated without the coordinated shutdown (no leave, no hand-off). */
  static final Map<String, Object> CRASHABLE = Map.of("pekko.coordinated-shutdown.run-by-actor-system-terminate", "off");

  /** Stops a node's actor system without leaving the cluster: what the others see of a kill -9. */
  static void crash(TestNode node) throws Exception {
    node.node.system().terminate();
    node.node.system().getWhenTerminated().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }
}

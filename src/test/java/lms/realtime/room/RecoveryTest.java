package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Contract §3 "Sequence, history, recovery", through real sockets; history of 5 events, 3 s. The
 * rooms here are memory rooms ({@code lms.durable.rooms} empty): {@link DurableRoomsTest} has the
 * same rules for durable ones, and what survives a restart.
 */
@Tag("socket")
class RecoveryTest {
  static final String SERVICE = Tokens.service();
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of("lms.history.size", 5, "lms.history.ttl-seconds", 3,
      "lms.durable.rooms", ""));

  static JsonNode publish(String room, int n) throws Exception {
    var r = NODE.get().post("/api/v1/rooms/" + room + "/events", SERVICE, "{\"event\":\"e\",\"data\":{\"n\":" + n + "}}");
    assertEquals(202, r.statusCode(), r.body());
    return WsClient.JSON.readTree(r.body());
  }

  static WsClient open(String user, String course) {
    return NODE.get().open(Tokens.student(user, course));
  }

  static JsonNode rejoin(WsClient ws, String room, String epoch, long seq) {
    ws.send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"rj\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + seq + "}}");
    return ws.expect("joined");
  }

  @Test
  void aReconnectingClientGetsEveryMissedEventInOrder() throws Exception {
    String epoch;
    long lastSeen;
    try (WsClient ws = open("r1", "700")) {
      JsonNode joined = ws.join("course:700");
      epoch = joined.get("epoch").asText();
      publish("course:700", 1);
      lastSeen = ws.expect("event").get("seq").asLong();
    }
    for (int i = 2; i <= 4; i++) {
      publish("course:700", i); // while the client is away
    }
    try (WsClient ws = open("r1", "700")) {
      JsonNode joined = rejoin(ws, "course:700", epoch, lastSeen);
      assertTrue(joined.get("recovered").asBoolean());
      assertEquals(epoch, joined.get("epoch").asText());
      assertEquals(4, joined.get("seq").asLong());
      JsonNode missed = joined.get("missed");
      assertEquals(3, missed.size());
      for (int i = 0; i < 3; i++) {
        assertEquals("event", missed.get(i).get("type").asText());
        assertEquals(i + 2, missed.get(i).get("seq").asLong());
        assertEquals(i + 2, missed.get(i).get("data").get("n").asInt());
      }
      // and live events carry on from there
      publish("course:700", 5);
      assertEquals(5, ws.expect("event").get("seq").asLong());
    }
  }

  @Test
  void upToDateClientRecoversWithNothingMissed() throws Exception {
    try (WsClient ws = open("r2", "701")) {
      JsonNode joined = ws.join("course:701");
      publish("course:701", 1);
      ws.expect("event");
      try (WsClient second = open("r2", "701")) { // a socket joins a room once: a reconnect is a new socket
        JsonNode again = rejoin(second, "course:701", joined.get("epoch").asText(), 1);
        assertTrue(again.get("recovered").asBoolean());
        assertEquals(0, again.get("missed").size());
      }
    }
  }

  @Test
  void wrongEpochIsNotRecovered() throws Exception {
    publish("course:702", 1);
    try (WsClient ws = open("r3", "702")) {
      JsonNode joined = rejoin(ws, "course:702", "some-other-epoch", 0);
      assertFalse(joined.get("recovered").asBoolean());
      assertFalse(joined.has("missed"));
      assertEquals(1, joined.get("seq").asLong());
    }
  }

  @Test
  void positionOlderThanTheHistoryIsNotRecovered() throws Exception {
    JsonNode first = publish("course:703", 1);
    for (int i = 2; i <= 8; i++) {
      publish("course:703", i); // history keeps 5: seq 4..8
    }
    String epoch = first.get("epoch").asText();
    // one socket per join with since (a socket joins a room once; a reconnect is a new socket)
    try (WsClient ws = open("r4", "703")) {
      assertFalse(rejoin(ws, "course:703", epoch, 1).get("recovered").asBoolean(), "seq 2,3 are gone");
    }
    try (WsClient ws = open("r4", "703")) {
      JsonNode ok = rejoin(ws, "course:703", epoch, 3);
      assertTrue(ok.get("recovered").asBoolean(), "seq 4..8 are all there");
      assertEquals(5, ok.get("missed").size());
    }
    try (WsClient ws = open("r4", "703")) {
      assertFalse(rejoin(ws, "course:703", epoch, 99).get("recovered").asBoolean(), "a position ahead of the room");
    }
  }

  @Test
  void historyOlderThanTheTtlIsNotRecovered() throws Exception {
    JsonNode first = publish("course:704", 1);
    publish("course:704", 2);
    // a new socket each time (a socket joins a room once), of a new user (the per-user limit)
    AtomicInteger attempt = new AtomicInteger();
    JsonNode joined = Eventually.within(Duration.ofSeconds(15), Duration.ofMillis(250), () -> {
      try (WsClient ws = open("r5-" + attempt.incrementAndGet(), "704")) {
        return rejoin(ws, "course:704", first.get("epoch").asText(), 1);
      }
    }, j -> !j.get("recovered").asBoolean());
    assertFalse(joined.get("recovered").asBoolean(), "past the TTL: " + joined);
  }

  @Test
  void aRoomThatLostItsHistoryHasANewEpoch() throws Exception {
    JsonNode first = publish("course:705", 1);
    // nobody joined and the history expires: the room stops, and its next life has a new epoch. A read
    // of the stream adds no event (a publish would renew the history and keep the room up): it answers
    // the old epoch until the room has stopped.
    String epoch = first.get("epoch").asText();
    Eventually.within(Duration.ofSeconds(15), Duration.ofMillis(100), () -> {
      var read = NODE.get().get("/api/v1/rooms/course:705/events", SERVICE);
      return read.statusCode() == 200 ? WsClient.JSON.readTree(read.body()).get("epoch").asText() : null;
    }, e -> e != null && !e.equals(epoch));
    JsonNode next = publish("course:705", 2);
    assertNotEquals(first.get("epoch").asText(), next.get("epoch").asText());
    assertEquals(1, next.get("seq").asLong(), "numbering restarts with the epoch");
  }
}

package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Contract §10's batch publish, {@code POST /api/v1/batch}, on real sockets to a node with durable
 * rooms (H2): one result per item in item order, items independent, a room's items numbered in item
 * order, ids de-duplicated within a batch and across calls, and a body that is no batch refused
 * whole (400, 413 past the byte bound) with nothing published.
 */
@Tag("socket")
class BatchApiTest {
  static final int MAX_ITEMS = 400;
  static final int MAX_BYTES = 96 * 1024;

  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of(
      "lms.http.max-batch-items", MAX_ITEMS,
      "lms.http.max-batch-bytes", MAX_BYTES));
  static final String SERVICE = Tokens.service();

  static JsonNode json(String body) throws Exception {
    return WsClient.JSON.readTree(body);
  }

  static JsonNode batch(String body) throws Exception {
    var r = NODE.get().post("/api/v1/batch", SERVICE, body);
    assertEquals(200, r.statusCode(), r.body());
    return json(r.body()).get("results");
  }

  /** The room's next seq, read by publishing one more event: what earlier calls numbered shows in it. */
  static long nextSeq(String room) throws Exception {
    return json(NODE.get().post("/api/v1/rooms/" + room + "/events", SERVICE, "{\"event\":\"probe\"}").body()).get("seq").asLong();
  }

  /** The next {@code n} frames as "type event seq" (seq 0 when it has none), sorted: two rooms' frames interleave either way. */
  static List<String> nextFrames(WsClient ws, int n) {
    List<String> frames = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      JsonNode f = ws.next();
      frames.add(f.path("type").asText() + " " + f.path("event").asText() + " " + f.path("seq").asLong());
    }
    frames.sort(null);
    return frames;
  }

  @Test
  void roomAndUserItemsAnswerInItemOrderAndAreDeliveredInOrder() throws Exception {
    try (WsClient ada = NODE.get().open(Tokens.student("bt-ada", "b1"));
        WsClient bob = NODE.get().open(Tokens.student("bt-bob", "b1"))) {
      ada.join("course:b1");
      JsonNode results = batch("{\"items\":["
          + "{\"room\":\"course:b1\",\"event\":\"lesson_added\",\"data\":{\"n\":1}},"
          + "{\"user\":\"bt-ada\",\"event\":\"grade_posted\",\"data\":{\"grade\":\"A\"}},"
          + "{\"room\":\"course:b1\",\"event\":\"lesson_added\",\"data\":{\"n\":2}},"
          + "{\"user\":\"bt-bob\",\"event\":\"grade_posted\",\"data\":{\"grade\":\"B\"},\"durable\":false}]}");
      assertEquals(4, results.size());
      assertEquals(202, results.get(0).get("status").asInt(), results.toString());
      assertEquals("course:b1", results.get(0).get("room").asText());
      assertEquals(1, results.get(0).get("seq").asLong());
      assertEquals(2, results.get(2).get("seq").asLong(), "items into one room are numbered in item order");
      assertEquals(results.get(0).get("epoch").asText(), results.get(2).get("epoch").asText());
      assertEquals(202, results.get(1).get("status").asInt());
      assertEquals(1, results.get(1).get("delivered").asInt(), "ada's one socket");
      assertEquals(1, results.get(1).get("seq").asLong(), "kept in user:bt-ada's stream");
      assertTrue(results.get(1).hasNonNull("epoch"));
      assertEquals(202, results.get(3).get("status").asInt());
      assertEquals(1, results.get(3).get("delivered").asInt());
      assertTrue(!results.get(3).has("seq"), "a notification that is not kept has no place in a stream");

      // every 202 is delivered; a room's events in seq order (two rooms' frames may interleave either way)
      List<String> seen = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        JsonNode f = ada.next();
        seen.add(f.get("type").asText().equals("event") ? "event " + f.get("data").get("n").asText() : f.get("type").asText());
      }
      assertEquals(List.of("event 1", "event 2"), seen.stream().filter(s -> s.startsWith("event")).toList());
      assertTrue(seen.contains("notification"), seen.toString());
      JsonNode note = bob.expect("notification");
      assertEquals("B", note.get("data").get("grade").asText());
    }
  }

  @Test
  void itemsAreIndependentAndABadOneChangesNothing() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.student("bt-carl", "b2"))) {
      ws.join("course:b2");
      JsonNode results = batch("{\"items\":["
          + "{\"room\":\"nope:1\",\"event\":\"x\"},"
          + "{\"room\":\"course:b2\",\"event\":\"ok\",\"data\":1},"
          + "{\"room\":\"course:b2\",\"event\":\"\"},"
          + "{\"user\":\"bad user\",\"event\":\"x\"},"
          + "{\"room\":\"course:b2\",\"user\":\"bt-carl\",\"event\":\"x\"},"
          + "{\"event\":\"x\"},"
          + "42,"
          + "{\"user\":\"bt-carl\",\"event\":\"x\",\"durable\":false,\"id\":\"n1\"},"
          + "{\"user\":\"bt-carl\",\"event\":\"x\",\"durable\":\"yes\"},"
          + "{\"room\":\"course:b2\",\"event\":\"x\",\"id\":7}]}");
      assertEquals(10, results.size());
      for (int i = 0; i < results.size(); i++) {
        JsonNode r = results.get(i);
        if (i == 1) {
          assertEquals(202, r.get("status").asInt(), r.toString());
          assertEquals(1, r.get("seq").asLong());
        } else {
          assertEquals(400, r.get("status").asInt(), "item " + i + ": " + r);
          assertEquals("bad_request", r.get("error").asText());
          assertTrue(r.hasNonNull("message"), r.toString());
        }
      }
      assertEquals("ok", ws.expect("event").get("event").asText());
      assertEquals(2, nextSeq("course:b2"), "the refused items were not numbered");
      // a refused item could only have reached the socket through course:b2, user:bt-carl (kept) or
      // bt-carl's user entity (not kept); each delivers in order, so a marker through each, and the
      // markers the very next frames, prove that none did
      assertEquals(1, json(NODE.get().post("/api/v1/users/bt-carl/notifications", SERVICE, "{\"event\":\"kept\"}").body()).get("seq").asLong(),
          "the refused items were not numbered in user:bt-carl");
      NODE.get().post("/api/v1/users/bt-carl/notifications", SERVICE, "{\"event\":\"passing\",\"durable\":false}");
      assertEquals(List.of("event probe 2", "notification kept 1", "notification passing 0"), nextFrames(ws, 3));
    }
  }

  @Test
  void idsAreDeduplicatedWithinABatchAndAcrossCalls() throws Exception {
    try (WsClient ws = NODE.get().open(Tokens.student("bt-dana", "b3"))) {
      ws.join("course:b3");
      JsonNode first = batch("{\"items\":["
          + "{\"room\":\"course:b3\",\"event\":\"a\",\"id\":\"e-1\"},"
          + "{\"room\":\"course:b3\",\"event\":\"b\",\"id\":\"e-2\"},"
          + "{\"room\":\"course:b3\",\"event\":\"a-again\",\"id\":\"e-1\"},"
          + "{\"user\":\"bt-dana\",\"event\":\"n\",\"id\":\"n-1\"},"
          + "{\"user\":\"bt-dana\",\"event\":\"n-again\",\"id\":\"n-1\"}]}");
      assertEquals(1, first.get(0).get("seq").asLong());
      assertEquals(2, first.get(1).get("seq").asLong());
      assertEquals(1, first.get(2).get("seq").asLong(), "a repeat within the batch answers the first seq");
      assertEquals(first.get(3).get("seq").asLong(), first.get(4).get("seq").asLong());
      assertEquals(0, first.get(4).get("delivered").asInt(), "a repeated notification is not sent again");
      JsonNode again = batch("{\"items\":[{\"room\":\"course:b3\",\"event\":\"b\",\"id\":\"e-2\"},{\"user\":\"bt-dana\",\"event\":\"n\",\"id\":\"n-1\"}]}");
      assertEquals(2, again.get(0).get("seq").asLong(), "and across calls");
      assertEquals(first.get(3).get("seq").asLong(), again.get(1).get("seq").asLong());
      // the single calls de-duplicate against the same window
      assertEquals(2, json(NODE.get().post("/api/v1/rooms/course:b3/events", SERVICE, "{\"event\":\"b\",\"id\":\"e-2\"}").body()).get("seq").asLong());
      var note = json(NODE.get().post("/api/v1/users/bt-dana/notifications", SERVICE, "{\"event\":\"n\",\"id\":\"n-1\"}").body());
      assertEquals(first.get(3).get("seq").asLong(), note.get("seq").asLong());
      assertEquals(0, note.get("delivered").asInt());
      // a room's frames in order; the course's and the user's own room may interleave either way
      List<String> frames = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        JsonNode f = ws.next();
        frames.add(f.get("type").asText() + " " + f.get("event").asText());
      }
      assertEquals(List.of("event a", "event b"), frames.stream().filter(f -> f.startsWith("event")).toList());
      assertEquals(List.of("notification n"), frames.stream().filter(f -> f.startsWith("notification")).toList());
      // the markers: one more event of the course and one more kept notification, each numbered
      // next; the repeats, had they been published, would have come before them in their room's order
      assertEquals(3, nextSeq("course:b3"));
      long noteSeq = first.get(3).get("seq").asLong() + 1;
      assertEquals(noteSeq, json(NODE.get().post("/api/v1/users/bt-dana/notifications", SERVICE, "{\"event\":\"m\",\"id\":\"n-2\"}").body())
          .get("seq").asLong());
      assertEquals(List.of("event probe 3", "notification m " + noteSeq), nextFrames(ws, 2));
    }
  }

  @Test
  void aBodyThatIsNoBatchIsRefusedWholeAndPublishesNothing() throws Exception {
    String good = "{\"room\":\"course:b4\",\"event\":\"x\"}";
    String tooMany = "{\"items\":[" + String.join(",", java.util.Collections.nCopies(MAX_ITEMS + 1, good)) + "]}";
    for (String bad : new String[] {"{oops", "[]", "42", "", "{}", "{\"items\":{}}", "{\"items\":[]}", "{\"items\":" + "[".repeat(100) + "]".repeat(100) + "}", tooMany}) {
      var r = NODE.get().post("/api/v1/batch", SERVICE, bad);
      assertEquals(400, r.statusCode(), bad.length() > 80 ? bad.substring(0, 80) : bad);
      JsonNode err = json(r.body());
      assertEquals("bad_request", err.get("error").asText(), r.body());
    }
    String padded = "{\"items\":[{\"room\":\"course:b4\",\"event\":\"x\",\"data\":\"" + "a".repeat(MAX_BYTES) + "\"}]}";
    var big = NODE.get().post("/api/v1/batch", SERVICE, padded);
    assertEquals(413, big.statusCode(), big.body());
    assertEquals("too_large", json(big.body()).get("error").asText());
    assertEquals(1, nextSeq("course:b4"), "nothing of a refused batch was published");
    var atMost = batch("{\"items\":[" + String.join(",", java.util.Collections.nCopies(MAX_ITEMS, good)) + "]}");
    assertEquals(MAX_ITEMS, atMost.size());
    assertEquals(MAX_ITEMS + 1, atMost.get(MAX_ITEMS - 1).get("seq").asLong());
  }

  /** A body without a length (chunked) is held to the same bounds, in the contract's shape, on both transports. */
  @Test
  void aChunkedBodyOverItsBoundIsTooLarge() throws Exception {
    String single = "{\"event\":\"x\",\"data\":\"" + "a".repeat(70_000) + "\"}";
    var one = chunked("/api/v1/rooms/course:b7/events", single);
    assertEquals(400, one.statusCode(), one.body());
    assertEquals("too_large", json(one.body()).get("error").asText());
    String batch = "{\"items\":[{\"room\":\"course:b7\",\"event\":\"x\",\"data\":\"" + "a".repeat(MAX_BYTES) + "\"}]}";
    var many = chunked("/api/v1/batch", batch);
    assertEquals(413, many.statusCode(), many.body());
    assertEquals("too_large", json(many.body()).get("error").asText());
    assertEquals(1, nextSeq("course:b7"), "nothing was published");
  }

  private static java.net.http.HttpResponse<String> chunked(String path, String body) {
    byte[] bytes = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return NODE.get().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(NODE.get().url(path)))
        .header("Content-Type", "application/json")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(bytes))), SERVICE);
  }

  @Test
  void aBatchNeedsAServiceToken() {
    String body = "{\"items\":[{\"room\":\"course:b5\",\"event\":\"x\"}]}";
    assertEquals(401, NODE.get().post("/api/v1/batch", null, body).statusCode());
    assertEquals(403, NODE.get().post("/api/v1/batch", Tokens.student("bt-eve", "b5"), body).statusCode());
  }

  /** A grade posted for a class is one call: every student's sockets get theirs, each kept in their inbox. */
  @Test
  void aGradeForAClassIsOneCall() throws Exception {
    int students = 60;
    List<WsClient> sockets = new ArrayList<>();
    try {
      StringBuilder items = new StringBuilder("{\"items\":[");
      for (int i = 0; i < students; i++) {
        sockets.add(NODE.get().open(Tokens.student("bt-s" + i, "b6")));
        items.append(i == 0 ? "" : ",").append("{\"user\":\"bt-s").append(i).append("\",\"event\":\"grade_posted\",\"data\":{\"grade\":")
            .append(i).append("},\"id\":\"g-").append(i).append("\"}");
      }
      JsonNode results = batch(items.append("]}").toString());
      for (int i = 0; i < students; i++) {
        assertEquals(202, results.get(i).get("status").asInt(), results.get(i).toString());
        assertEquals(1, results.get(i).get("delivered").asInt());
        assertEquals(i, sockets.get(i).expect("notification").get("data").get("grade").asInt());
      }
      var inbox = json(NODE.get().get("/api/v1/users/bt-s7/notifications", SERVICE).body());
      assertEquals(1, inbox.get("notifications").size());
    } finally {
      sockets.forEach(WsClient::close);
    }
  }
}

package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Contract §6: the backend API's 202/400/401/403, and that a bad call changes nothing. */
@Tag("socket")
class BackendApiTest {
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass();
  static final String SERVICE = Tokens.service();

  static JsonNode json(String body) throws Exception {
    return WsClient.JSON.readTree(body);
  }

  static WsClient member(String user, String course) {
    WsClient ws = NODE.get().open(Tokens.student(user, course));
    ws.join("course:" + course);
    return ws;
  }

  @Test
  void publishAnswers202WithThePosition() throws Exception {
    try (WsClient ws = member("b1", "100")) {
      var r = NODE.get().post("/api/v1/rooms/course:100/events", SERVICE, "{\"event\":\"lesson_added\",\"data\":{\"lesson\":7}}");
      assertEquals(202, r.statusCode(), r.body());
      JsonNode body = json(r.body());
      assertEquals("course:100", body.get("room").asText());
      assertEquals(1, body.get("seq").asLong());
      JsonNode e = ws.expect("event");
      assertEquals(body.get("epoch").asText(), e.get("epoch").asText());
      assertEquals("backend", e.get("from").asText());
      assertEquals(7, e.get("data").get("lesson").asInt());
      assertEquals(2, json(NODE.get().post("/api/v1/rooms/course:100/events", SERVICE, "{\"event\":\"x\",\"data\":[]}").body()).get("seq").asLong());
    }
  }

  @Test
  void aRepeatedIdIsNotPublishedAgain() throws Exception {
    try (WsClient ws = member("b2", "101")) {
      String body = "{\"event\":\"grade_posted\",\"data\":{},\"id\":\"evt-123\"}";
      JsonNode first = json(NODE.get().post("/api/v1/rooms/course:101/events", SERVICE, body).body());
      var again = NODE.get().post("/api/v1/rooms/course:101/events", SERVICE, body);
      assertEquals(202, again.statusCode());
      assertEquals(first.get("seq").asLong(), json(again.body()).get("seq").asLong());
      assertEquals("grade_posted", ws.expect("event").get("event").asText());
      // the marker: the room fans an event out before it answers, and delivers its events to a
      // member in order, so a repeat published again would come before this next event
      assertEquals(2, json(NODE.get().post("/api/v1/rooms/course:101/events", SERVICE, "{\"event\":\"y\",\"id\":\"evt-124\"}").body()).get("seq").asLong());
      JsonNode next = ws.next();
      assertEquals("y", next.path("event").asText(), "the next frame is the next event: " + next);
      assertEquals(2, next.get("seq").asLong());
    }
  }

  @Test
  void badBodiesAre400AndPublishNothing() throws Exception {
    try (WsClient ws = member("b3", "102")) {
      for (String bad : new String[] {
          "{oops", "[]", "42", "", "{\"data\":{}}", "{\"event\":7}", "{\"event\":\"\"}", "{\"event\":\"x\",\"id\":5}",
          "{\"event\":\"" + "e".repeat(200) + "\"}", "{\"event\":\"x\",\"data\":" + "[".repeat(100) + "]".repeat(100) + "}"}) {
        var r = NODE.get().post("/api/v1/rooms/course:102/events", SERVICE, bad);
        assertEquals(400, r.statusCode(), bad + " -> " + r.body());
        JsonNode err = json(r.body());
        assertTrue(err.hasNonNull("error") && err.hasNonNull("message"), r.body());
      }
      var big = NODE.get().post("/api/v1/rooms/course:102/events", SERVICE, "{\"event\":\"x\",\"data\":\"" + "a".repeat(70_000) + "\"}");
      assertEquals(400, big.statusCode());
      assertEquals("too_large", json(big.body()).get("error").asText());
      var badRoom = NODE.get().post("/api/v1/rooms/nope:1/events", SERVICE, "{\"event\":\"x\"}");
      assertEquals(400, badRoom.statusCode());
      // nothing was numbered either, and nothing delivered: the room's first event is the member's next frame
      assertEquals(1, json(NODE.get().post("/api/v1/rooms/course:102/events", SERVICE, "{\"event\":\"ok\"}").body()).get("seq").asLong());
      JsonNode next = ws.next();
      assertEquals("ok", next.path("event").asText(), "the next frame is the first event: " + next);
      assertEquals(1, next.get("seq").asLong());
    }
  }

  @Test
  void authorisation() throws Exception {
    String body = "{\"event\":\"x\"}";
    assertEquals(401, NODE.get().post("/api/v1/rooms/course:103/events", null, body).statusCode());
    assertEquals(401, NODE.get().post("/api/v1/rooms/course:103/events", "garbage", body).statusCode());
    assertEquals(401, NODE.get().post("/api/v1/rooms/course:103/events", Tokens.unsigned("platform"), body).statusCode());
    var forbidden = NODE.get().post("/api/v1/rooms/course:103/events", Tokens.instructor("t", "103"), body);
    assertEquals(403, forbidden.statusCode());
    assertEquals("forbidden", json(forbidden.body()).get("error").asText());
    assertEquals(401, NODE.get().get("/api/v1/rooms/course:103/presence", null).statusCode());
    assertEquals(403, NODE.get().post("/api/v1/users/u1/notifications", Tokens.admin("a"), body).statusCode());
    // issue 22: a service token spelled otherwise, and one whose exp is "never" (1e300), are not valid
    assertEquals(401, NODE.get().post("/api/v1/rooms/course:103/events", Tokens.respelled(SERVICE), body).statusCode());
    var never = NODE.get().post("/api/v1/rooms/course:103/events",
        Tokens.handMade("{\"alg\":\"HS256\"}", "{\"sub\":\"platform\",\"roles\":[\"service\"],\"exp\":1e300}"), body);
    assertEquals(401, never.statusCode(), never.body());
    assertTrue(never.body().contains("9999"), never.body());
    // nothing was published by the refused calls
    assertEquals(1, json(NODE.get().post("/api/v1/rooms/course:103/events", SERVICE, body).body()).get("seq").asLong());
  }

  @Test
  void notificationsReachEveryConnectionOfTheUser() throws Exception {
    WsClient phone = NODE.get().connect(Tokens.student("n1"));
    WsClient laptop = NODE.get().connect(Tokens.student("n1"));
    phone.expect("welcome");
    laptop.expect("welcome");
    var r = NODE.get().post("/api/v1/users/n1/notifications", SERVICE, "{\"event\":\"grade_posted\",\"data\":{\"grade\":\"A\"}}");
    assertEquals(202, r.statusCode());
    assertEquals(2, json(r.body()).get("delivered").asInt());
    for (WsClient ws : new WsClient[] {phone, laptop}) {
      JsonNode n = ws.expect("notification");
      assertEquals("grade_posted", n.get("event").asText());
      assertEquals("A", n.get("data").get("grade").asText());
      assertTrue(n.get("ts").asLong() > 0);
    }
    phone.close();
    laptop.close();
    assertEquals(0, json(NODE.get().post("/api/v1/users/nobody/notifications", SERVICE, "{\"event\":\"x\"}").body()).get("delivered").asInt());
    assertEquals(400, NODE.get().post("/api/v1/users/n1/notifications", SERVICE, "{\"data\":1}").statusCode());
  }

  @Test
  void aRoomsRecentEventsAreReadNewestLastAndBounded() throws Exception {
    String room = "/api/v1/rooms/course:104/events";
    JsonNode empty = json(NODE.get().get(room, SERVICE).body());
    assertEquals(0, empty.get("seq").asLong());
    assertEquals(0, empty.get("events").size());
    assertEquals(false, empty.get("recovered").asBoolean());
    for (int i = 1; i <= 5; i++) {
      NODE.get().post(room, SERVICE, "{\"event\":\"announcement\",\"data\":{\"n\":" + i + ",\"by\":\"Prof. T\"}}");
    }
    JsonNode all = json(NODE.get().get(room, SERVICE).body());
    assertEquals(5, all.get("seq").asLong());
    assertEquals(5, all.get("events").size());
    assertEquals(1, all.get("events").get(0).get("seq").asLong(), "oldest first");
    assertEquals("Prof. T", all.get("events").get(4).get("data").get("by").asText());
    assertEquals("backend", all.get("events").get(4).get("from").asText());
    String epoch = all.get("epoch").asText();

    JsonNode newest = json(NODE.get().get(room + "?limit=2", SERVICE).body());
    assertEquals(2, newest.get("events").size());
    assertEquals(4, newest.get("events").get(0).get("seq").asLong(), "the newest two");
    JsonNode after = json(NODE.get().get(room + "?since=" + epoch + ":3", SERVICE).body());
    assertEquals(true, after.get("recovered").asBoolean());
    assertEquals(2, after.get("events").size());
    assertEquals(4, after.get("events").get(0).get("seq").asLong());
    JsonNode cut = json(NODE.get().get(room + "?since=" + epoch + ":1&limit=2", SERVICE).body());
    assertEquals(false, cut.get("recovered").asBoolean(), "four events after seq 1, two answered: not all of them");
    JsonNode stale = json(NODE.get().get(room + "?since=another-epoch:3", SERVICE).body());
    assertEquals(false, stale.get("recovered").asBoolean());
    assertEquals(5, stale.get("events").size(), "a position of another epoch: all the room keeps");

    for (String bad : new String[] {"?limit=0", "?limit=1001", "?limit=ten", "?since=yesterday", "?since=:4", "?since=e:-1"}) {
      var r = NODE.get().get(room + bad, SERVICE);
      assertEquals(400, r.statusCode(), bad + " -> " + r.body());
      assertEquals("bad_request", json(r.body()).get("error").asText());
    }
    assertEquals(400, NODE.get().get("/api/v1/rooms/nope:1/events", SERVICE).statusCode());
    assertEquals(401, NODE.get().get(room, null).statusCode());
    assertEquals(403, NODE.get().get(room, Tokens.instructor("t", "104")).statusCode());
    // reading changed nothing: the next event is 6
    assertEquals(6, json(NODE.get().post(room, SERVICE, "{\"event\":\"ok\"}").body()).get("seq").asLong());
  }

  private static final String SINCE_400 = "{\"error\":\"bad_request\",\"message\":\"'since' is EPOCH:SEQ, as the stream's frames give them\"}";
  private static final String LIMIT_400 = "{\"error\":\"bad_request\",\"message\":\"'limit' is a whole number from 1 to 1000\"}";

  /**
   * Issue 25: since and limit are read by pekko-http's parameter unmarshallers; whatever is wrong
   * with a value, the answer is the contract's 400 with the parameter's one body, and a parameter
   * given twice is refused too (before: the first one was taken). Reading changes nothing.
   */
  @Test
  void everyRefusedSinceOrLimitIsTheContracts400() throws Exception {
    String events = "/api/v1/rooms/course:105/events";
    String inbox = "/api/v1/users/q1/notifications";
    Map<String, String> cases = new LinkedHashMap<>();
    for (String bad : new String[] {"abc", "x:", ":5", "e:-1", "e:1.5", "e:ten", "e:", "", ":"}) {
      cases.put(events + "?since=" + bad, SINCE_400);
      cases.put(inbox + "?since=" + bad, SINCE_400);
    }
    for (String bad : new String[] {"0", "1001", "1.5", "-1", "ten", "", "99999999999", "1e2"}) {
      cases.put(events + "?limit=" + bad, LIMIT_400);
    }
    cases.put(events + "?since=e:1&since=e:2", "{\"error\":\"bad_request\",\"message\":\"'since' is given once\"}");
    cases.put(inbox + "?since=e:1&since=e:1", "{\"error\":\"bad_request\",\"message\":\"'since' is given once\"}");
    cases.put(events + "?limit=5&limit=5", "{\"error\":\"bad_request\",\"message\":\"'limit' is given once\"}");
    cases.forEach((path, body) -> {
      var r = NODE.get().get(path, SERVICE);
      assertEquals(400, r.statusCode(), path + " -> " + r.body());
      assertEquals(body, r.body(), path);
      assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""), path);
    });
    // the edges that are valid: the first and last limit, seq 0, an epoch that holds a colon
    for (String good : new String[] {"?limit=1", "?limit=1000", "?since=e:0", "?since=a:b:7&limit=3"}) {
      assertEquals(200, NODE.get().get(events + good, SERVICE).statusCode(), good);
    }
    assertEquals(200, NODE.get().get(inbox + "?since=e:0", SERVICE).statusCode());
    assertEquals(1, json(NODE.get().post(events, SERVICE, "{\"event\":\"ok\"}").body()).get("seq").asLong());
  }

  /** Issue 25: every error of the API, whoever answers it, is {"error","message"} in JSON with the status of its code. */
  @Test
  void everyApiErrorHasTheOneShape() throws Exception {
    String events = "/api/v1/rooms/course:107/events";
    var put = HttpRequest.newBuilder(URI.create(NODE.get().url(events))).PUT(HttpRequest.BodyPublishers.ofString("{}"));
    List<Map.Entry<String, HttpResponse<String>>> answers = new ArrayList<>();
    answers.add(Map.entry("401 unauthorized", NODE.get().get(events, null)));
    answers.add(Map.entry("401 unauthorized", NODE.get().post(events, "garbage", "{}")));
    answers.add(Map.entry("403 forbidden", NODE.get().get(events, Tokens.instructor("t", "107"))));
    answers.add(Map.entry("404 not_found", NODE.get().get("/api/v1/nothing", SERVICE)));
    answers.add(Map.entry("404 not_found", NODE.get().get("/api/v1/rooms/course:107/nothing", SERVICE)));
    answers.add(Map.entry("404 not_found", NODE.get().send(put, SERVICE)));
    answers.add(Map.entry("404 not_found", NODE.get().delete("/api/v1/users/u1/presence", SERVICE)));
    answers.add(Map.entry("400 bad_request", NODE.get().get("/api/v1/rooms/nope:1/presence", SERVICE)));
    answers.add(Map.entry("400 bad_request", NODE.get().get("/api/v1/users/not%20an%20id/presence", SERVICE)));
    answers.add(Map.entry("400 bad_request", NODE.get().delete("/api/v1/rooms/nope:1/members/u1", SERVICE)));
    answers.add(Map.entry("400 bad_request", NODE.get().post(events, SERVICE, "{oops")));
    answers.add(Map.entry("400 too_large", NODE.get().post(events, SERVICE, "{\"event\":\"x\",\"data\":\"" + "a".repeat(70_000) + "\"}")));
    answers.add(Map.entry("413 too_large", NODE.get().post("/api/v1/batch", SERVICE, "{\"items\":[\"" + "a".repeat(1_100_000) + "\"]}")));
    answers.forEach(answer -> {
      String expected = answer.getKey();
      HttpResponse<String> r = answer.getValue();
      String[] statusAndCode = expected.split(" ");
      assertEquals(Integer.parseInt(statusAndCode[0]), r.statusCode(), expected + ": " + r.body());
      assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""), expected);
      JsonNode body;
      try {
        body = json(r.body());
      } catch (Exception e) {
        throw new AssertionError(expected + ": not JSON: " + r.body(), e);
      }
      List<String> fields = new ArrayList<>();
      body.fieldNames().forEachRemaining(fields::add);
      assertEquals(List.of("error", "message"), fields, r.body());
      assertEquals(statusAndCode[1], body.get("error").asText(), r.body());
      assertTrue(body.get("message").isTextual() && !body.get("message").asText().isEmpty(), r.body());
    });
  }

  /**
   * Issue 25: the reads' bodies are records written by Jackson, the frames in them copied as the
   * room keeps them (the same text a socket receives), the fields in the contract's order; and JSON
   * is the answer whatever the request's Accept and Accept-Charset say, as before the answers went through a marshaller.
   */
  @Test
  void theReadsAnswerTheFramesAsTheSocketsGetThem() throws Exception {
    try (WsClient ws = member("b7", "108")) {
      var published = json(NODE.get().post("/api/v1/rooms/course:108/events", SERVICE,
          "{\"event\":\"quiz\",\"data\":{\"q\":\"\\\"é\\u2028\",\"n\":1.50}}").body());
      String frame = ws.nextRaw(WsClient.WAIT);
      while (frame != null && !"event".equals(json(frame).path("type").asText())) {
        frame = ws.nextRaw(WsClient.WAIT);
      }
      String epoch = published.get("epoch").asText();
      String expected = "{\"room\":\"course:108\",\"epoch\":\"" + epoch + "\",\"seq\":1,\"recovered\":true,\"events\":[" + frame + "]}";
      assertEquals(expected, NODE.get().get("/api/v1/rooms/course:108/events?since=" + epoch + ":0", SERVICE).body());
      var html = NODE.get().send(HttpRequest.newBuilder(URI.create(NODE.get().url("/api/v1/rooms/course:108/events?since=" + epoch + ":0")))
          .header("Accept", "text/html").GET(), SERVICE);
      assertEquals(200, html.statusCode(), html.body());
      assertEquals("application/json", html.headers().firstValue("Content-Type").orElse(""));
      assertEquals(expected, html.body());
      var latin1 = NODE.get().send(HttpRequest.newBuilder(URI.create(NODE.get().url("/api/v1/rooms/course:108/events?since=" + epoch + ":0")))
          .header("Accept-Charset", "iso-8859-1").GET(), SERVICE);
      assertEquals(200, latin1.statusCode(), latin1.body());
      assertEquals(expected, latin1.body());
      String presence = NODE.get().get("/api/v1/rooms/course:108/presence", SERVICE).body();
      assertTrue(presence.startsWith("{\"room\":\"course:108\",\"users\":[{\"userId\":\"b7\","), presence);
      assertEquals("{\"userId\":\"b7\",\"online\":true,\"connections\":1}", NODE.get().get("/api/v1/users/b7/presence", SERVICE).body());
      assertEquals("{\"removed\":0}", NODE.get().delete("/api/v1/rooms/course:108/members/nobody", SERVICE).body());
      String inbox = NODE.get().get("/api/v1/users/b7/notifications", SERVICE).body();
      assertTrue(inbox.matches("\\{\"userId\":\"b7\",\"epoch\":\"[^\"]+\",\"seq\":0,\"recovered\":false,\"notifications\":\\[],\"read\":\\[]}"), inbox);
    }
  }

  @Test
  void healthAndMetrics() {
    assertEquals(200, NODE.get().get("/health/live", null).statusCode());
    assertEquals(200, NODE.get().get("/health/ready", null).statusCode());
    var metrics = NODE.get().get("/metrics", null);
    assertEquals(200, metrics.statusCode());
    assertTrue(metrics.body().contains("lms_sockets_open"), metrics.body());
    assertTrue(metrics.body().contains("lms_events_published"));
  }

  @Test
  void unknownApiCallIs404() {
    assertEquals(404, NODE.get().get("/api/v1/nothing", SERVICE).statusCode());
  }
}

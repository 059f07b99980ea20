package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.Main;
import lms.realtime.Node;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.Scrape;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Contract §9, durable rooms and the inbox, on one node and its embedded H2 journal: what survives
 * kill -9 and a fresh start on the same data directory (a course room's epoch and events, a
 * notification sent while its user had no socket, a removal, a de-duplication id), the retention
 * rules over a journal that snapshots and deletes, and the refusals at start.
 */
@Tag("process")
class DurableRoomsTest {
  static final String SERVICE = Tokens.service();

  static JsonNode json(String body) throws Exception {
    return WsClient.JSON.readTree(body);
  }

  static JsonNode rejoin(WsClient ws, String room, String epoch, long seq) {
    ws.send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"rj\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + seq + "}}");
    return ws.expect("joined");
  }

  @Test
  void aCourseRoomAndAnInboxSurviveKillNineAndAFreshStart() throws Exception {
    String dataDir = TestNode.dataDir();
    try (ProcessCluster node = new ProcessCluster(1, "durable-h2", ProcessCluster.env("LMS_DATA_DIR", dataDir))) {
      node.startAllAndAwaitReady();
      String course = "course:901";
      String epoch;
      String inboxEpoch;
      String removedToken = Tokens.student("d-removed", "901");
      try (WsClient student = node.connect(0, Tokens.student("d-s1", "901"));
          WsClient inbox = node.connect(0, Tokens.student("d-s2", "901"))) {
        epoch = student.join(course).get("epoch").asText();
        for (int i = 1; i <= 2; i++) {
          node.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + course + "/events", "{\"event\":\"lesson\",\"data\":{\"n\":" + i + "}}");
          assertEquals(i, student.await("event").get("seq").asLong());
        }
        JsonNode live = node.reliably(new int[] {0}, "POST", "/api/v1/users/d-s2/notifications",
            "{\"event\":\"grade.posted\",\"data\":{\"grade\":\"A\"}}");
        assertEquals(1, live.get("delivered").asInt(), live.toString());
        JsonNode frame = inbox.await("notification");
        assertEquals(live.get("seq").asLong(), frame.get("seq").asLong());
        assertEquals(live.get("epoch").asText(), frame.get("epoch").asText());
        assertEquals("user:d-s2", frame.get("room").asText());
        inboxEpoch = frame.get("epoch").asText();
        assertEquals(1, frame.get("seq").asLong());
      }
      // while both are away: three events, a notification nobody receives, a removal, a keyed event
      for (int i = 3; i <= 5; i++) {
        node.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + course + "/events", "{\"event\":\"lesson\",\"data\":{\"n\":" + i + "}}");
      }
      JsonNode offline = node.reliably(new int[] {0}, "POST", "/api/v1/users/d-s2/notifications",
          "{\"event\":\"grade.posted\",\"data\":{\"grade\":\"B+\"}}");
      assertEquals(0, offline.get("delivered").asInt());
      assertEquals(2, offline.get("seq").asLong());
      JsonNode keyed = node.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + course + "/events", "{\"event\":\"quiz\",\"id\":\"quiz-7\"}");
      assertEquals(6, keyed.get("seq").asLong());
      assertEquals(200, node.call(0, "DELETE", "/api/v1/rooms/" + course + "/members/d-removed", null).statusCode());

      node.kill9(0);
      node.start(0);
      node.awaitReady(0);

      try (WsClient student = node.connect(0, Tokens.student("d-s1", "901"));
          WsClient inbox = node.connect(0, Tokens.student("d-s2", "901"))) {
        JsonNode joined = rejoin(student, course, epoch, 2);
        assertTrue(joined.get("recovered").asBoolean(), joined.toString());
        assertEquals(epoch, joined.get("epoch").asText(), "the epoch survived kill -9");
        assertEquals(6, joined.get("seq").asLong());
        JsonNode missed = joined.get("missed");
        assertEquals(4, missed.size());
        for (int i = 0; i < 3; i++) {
          assertEquals(i + 3, missed.get(i).get("seq").asLong());
          assertEquals(i + 3, missed.get(i).get("data").get("n").asInt());
        }
        JsonNode inboxJoined = rejoin(inbox, "user:d-s2", inboxEpoch, 1);
        assertTrue(inboxJoined.get("recovered").asBoolean(), inboxJoined.toString());
        JsonNode note = inboxJoined.get("missed").get(0);
        assertEquals("notification", note.get("type").asText());
        assertEquals("grade.posted", note.get("event").asText());
        assertEquals("B+", note.get("data").get("grade").asText());
        assertEquals(2, note.get("seq").asLong());
      }
      JsonNode again = node.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + course + "/events", "{\"event\":\"quiz\",\"id\":\"quiz-7\"}");
      assertEquals(6, again.get("seq").asLong(), "the de-duplication id survived: not published again");
      try (WsClient removed = node.connect(0, removedToken)) {
        removed.send("{\"type\":\"join\",\"room\":\"" + course + "\",\"id\":\"j\"}");
        JsonNode error = removed.expect("error");
        assertEquals("forbidden", error.get("code").asText(), "the removal survived: " + error);
      }
      JsonNode read = json(node.call(0, "GET", "/api/v1/users/d-s2/notifications", null).body());
      assertEquals(2, read.get("notifications").size(), read.toString());
      assertEquals(inboxEpoch, read.get("epoch").asText());
      JsonNode since = json(node.call(0, "GET", "/api/v1/users/d-s2/notifications?since=" + inboxEpoch + ":1", null).body());
      assertTrue(since.get("recovered").asBoolean());
      assertEquals(1, since.get("notifications").size());
      assertEquals("B+", since.get("notifications").get(0).get("data").get("grade").asText());
    }
  }

  /**
   * A device marks a notification read: an event of the same stream, so every device sees it, and
   * the backend's inbox read says so.
   */
  @Test
  void aNotificationMarkedReadIsAnEventEveryDeviceSees() throws Exception {
    try (TestNode node = TestNode.start();
        WsClient phone = node.open(Tokens.student("d-read", "1"));
        WsClient laptop = node.open(Tokens.student("d-read", "1"))) {
      JsonNode sent = json(node.post("/api/v1/users/d-read/notifications", SERVICE, "{\"event\":\"announcement\",\"data\":{}}").body());
      assertEquals(2, sent.get("delivered").asInt());
      phone.await("notification");
      laptop.await("notification");
      phone.send("{\"type\":\"publish\",\"room\":\"user:d-read\",\"id\":\"r\",\"event\":\"notification.read\",\"data\":{\"seq\":"
          + sent.get("seq").asLong() + "}}");
      assertEquals("notification.read", laptop.await("event").get("event").asText());
      JsonNode inbox = json(node.get("/api/v1/users/d-read/notifications", SERVICE).body());
      assertEquals(1, inbox.get("notifications").size());
      assertEquals(sent.get("seq").asLong(), inbox.get("read").get(0).asLong());
      // opting out: delivered, not kept
      JsonNode fleeting = json(node.post("/api/v1/users/d-read/notifications", SERVICE,
          "{\"event\":\"typing\",\"data\":{},\"durable\":false}").body());
      assertEquals(2, fleeting.get("delivered").asInt());
      assertFalse(fleeting.has("seq"), fleeting.toString());
      assertFalse(phone.await("notification").has("seq"));
      assertEquals(400, node.post("/api/v1/users/d-read/notifications", SERVICE, "{\"event\":\"x\",\"durable\":\"yes\"}").statusCode());
      assertEquals(400, node.get("/api/v1/users/d-read/notifications?since=nocolon", SERVICE).statusCode());
    }
  }

  /**
   * Retention by size (5 here) over a journal that snapshots every 3 events and deletes the events
   * before: what is kept is recovered, what is not is recovered:false, and a node started again on
   * the same directory replays its numbering and history from the snapshots.
   */
  @Test
  void retentionBySizeHoldsAcrossSnapshotsAndARestart() throws Exception {
    Map<String, Object> settings = Map.of("lms.durable.data-dir", TestNode.dataDir(), "lms.durable.history-size", 5,
        "lms.internals.journal-snapshot-every", 3);
    try (TestNode node = TestNode.start(settings)) {
      for (int i = 1; i <= 8; i++) {
        assertEquals(202, node.post("/api/v1/rooms/course:902/events", SERVICE, "{\"event\":\"e\",\"data\":{\"n\":" + i + "}}").statusCode());
      }
    }
    try (TestNode node = TestNode.start(settings); WsClient ws = node.open(Tokens.student("d-ret", "902"))) {
      JsonNode joined = ws.join("course:902");
      String epoch = joined.get("epoch").asText();
      assertEquals(8, joined.get("seq").asLong(), "numbering replayed from snapshot and events");
      leave(ws, "course:902");
      JsonNode kept = rejoin(ws, "course:902", epoch, 3);
      assertTrue(kept.get("recovered").asBoolean(), "seq 4..8 are the 5 kept: " + kept);
      assertEquals(5, kept.get("missed").size());
      assertEquals(8, kept.get("missed").get(4).get("data").get("n").asInt());
      leave(ws, "course:902");
      assertFalse(rejoin(ws, "course:902", epoch, 2).get("recovered").asBoolean(), "seq 3 is past the size");
    }
  }

  /**
   * Many publishes at once to one durable room: the room hands its journal the writes that wait as
   * one batch, so batches form here. Each event is numbered once, in the order it was taken, a
   * repeated id answers its first seq (also while that write is under way), the member gets every
   * event once and in order, and a restart replays them all across snapshots taken mid-batch.
   */
  @Test
  void concurrentPublishesShareBatchesInOrderAndSurviveARestart() throws Exception {
    Map<String, Object> settings = Map.of("lms.durable.data-dir", TestNode.dataDir(), "lms.internals.journal-snapshot-every", 7);
    int n = 150;
    String epoch;
    try (TestNode node = TestNode.start(settings); WsClient ws = node.open(Tokens.student("d-batch", "904"))) {
      ws.join("course:904");
      HttpClient http = HttpClient.newHttpClient();
      List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
      List<String> ids = new ArrayList<>();
      for (int i = 1; i <= n; i++) {
        for (int copy = 0; copy < (i % 10 == 0 ? 2 : 1); copy++) { // every tenth id twice, at once
          ids.add("b-" + i);
          sent.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port + "/api/v1/rooms/course:904/events"))
              .header("Authorization", "Bearer " + SERVICE)
              .POST(HttpRequest.BodyPublishers.ofString("{\"event\":\"e\",\"id\":\"b-" + i + "\",\"data\":{\"n\":" + i + "}}"))
              .build(), HttpResponse.BodyHandlers.ofString()));
        }
      }
      Map<String, Long> seqById = new HashMap<>();
      for (int k = 0; k < sent.size(); k++) {
        HttpResponse<String> r = sent.get(k).get(30, TimeUnit.SECONDS);
        assertEquals(202, r.statusCode(), r.body());
        long seq = json(r.body()).get("seq").asLong();
        Long first = seqById.putIfAbsent(ids.get(k), seq);
        if (first != null) {
          assertEquals(first, seq, "a repeated id answers its first seq: " + ids.get(k));
        }
      }
      assertEquals(n, seqById.size());
      assertEquals(n, new java.util.HashSet<>(seqById.values()).size(), "one seq per id");
      assertTrue(seqById.values().stream().allMatch(seq -> seq >= 1 && seq <= n), "seqs 1.." + n + ": " + seqById.values());
      epoch = null;
      long last = 0;
      for (int i = 1; i <= n; i++) {
        JsonNode e = ws.expect("event");
        assertEquals(last + 1, e.get("seq").asLong(), "every seq once, in order");
        last = e.get("seq").asLong();
        epoch = e.get("epoch").asText();
      }
      // the repeated ids were not published again: the room fans an event out before it answers and
      // delivers in order, so a repeat published again would come before this marker, numbered n + 1
      assertEquals(n + 1, json(node.post("/api/v1/rooms/course:904/events", SERVICE, "{\"event\":\"marker\",\"id\":\"b-marker\"}").body())
          .get("seq").asLong());
      JsonNode marker = ws.next();
      assertEquals("marker", marker.path("event").asText(), "the next frame is the marker: " + marker);
      assertEquals(n + 1, marker.get("seq").asLong());
      String metrics = node.get("/metrics", null).body();
      double batches = Scrape.sum(metrics, "lms_journal_batches_total", "");
      double entries = Scrape.sum(metrics, "lms_journal_events_total", "");
      System.out.println("durable batches: " + (long) entries + " journal entries in " + (long) batches + " batches");
      assertTrue(entries >= n, "every event was stored: " + entries);
      assertTrue(batches < entries, "the waiting writes went in shared batches: " + (long) entries + " entries, " + (long) batches + " batches");
      // and the node's writer put them in shared commits (its rows include each room's epoch row)
      double rows = Scrape.sum(metrics, "lms_journal_rows_total", "");
      double commits = Scrape.sum(metrics, "lms_journal_commits_total", "");
      System.out.println("group commit: " + (long) rows + " rows in " + (long) commits + " commits");
      assertTrue(rows >= entries, "the writer counts every stored row: " + rows + " rows, " + entries + " entries");
      assertTrue(commits >= 1 && commits < rows, "rows shared commits: " + (long) rows + " rows, " + (long) commits + " commits");
    }
    try (TestNode node = TestNode.start(settings); WsClient ws = node.open(Tokens.student("d-batch", "904"))) {
      JsonNode back = rejoin(ws, "course:904", epoch, 0);
      assertTrue(back.get("recovered").asBoolean(), back.toString());
      assertEquals(n + 1, back.get("seq").asLong(), "the n events and the marker");
      assertEquals(n + 1, back.get("missed").size());
      for (int i = 0; i <= n; i++) {
        assertEquals(i + 1, back.get("missed").get(i).get("seq").asLong());
      }
    }
  }

  /** Retention by age (3 s here): the events expire, the epoch stays. */
  @Test
  void retentionByAgeExpiresTheEventsNotTheEpoch() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.durable.history-ttl", "3s"));
        WsClient ws = node.open(Tokens.student("d-ttl", "903"))) {
      String epoch = json(node.post("/api/v1/rooms/course:903/events", SERVICE, "{\"event\":\"e\"}").body()).get("epoch").asText();
      node.post("/api/v1/rooms/course:903/events", SERVICE, "{\"event\":\"e\"}");
      assertTrue(rejoin(ws, "course:903", epoch, 0).get("recovered").asBoolean());
      leave(ws, "course:903");
      JsonNode old = Eventually.within(Duration.ofSeconds(15), Duration.ofMillis(250), () -> {
        JsonNode joined = rejoin(ws, "course:903", epoch, 1);
        if (joined.get("recovered").asBoolean()) {
          leave(ws, "course:903"); // not yet: out again, to ask again
        }
        return joined;
      }, joined -> !joined.get("recovered").asBoolean());
      assertFalse(old.get("recovered").asBoolean(), "past the TTL: " + old);
      assertEquals(epoch, old.get("epoch").asText(), "the epoch stays: only the events expired");
    }
  }

  static void leave(WsClient ws, String room) {
    ws.send("{\"type\":\"leave\",\"room\":\"" + room + "\"}");
    ws.expect("left");
  }

  /** A cluster without a shared database refuses durable rooms at start, naming the settings. */
  @Test
  void aClusterWithoutASharedDatabaseRefusesDurableRooms() {
    var config = TestNode.config(Map.of("lms.cluster.seed-nodes", "127.0.0.1:1,127.0.0.1:2"));
    IllegalStateException refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> Node.start(config, false));
    assertTrue(refused.getMessage().contains("LMS_DB_URL") && refused.getMessage().contains("LMS_DURABLE_ROOMS="), refused.getMessage());
  }

  /** An unreachable database at start: one clear line and exit 1, not a node that half works. */
  @Test
  void anUnreachableDatabaseAtStartIsAClearErrorAndExitOne() throws Exception {
    File log = new File("target/durable-unreachable.log");
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xmx128m", "-cp", System.getProperty("java.class.path"), Main.class.getName())
        .redirectErrorStream(true).redirectOutput(log);
    pb.environment().put("LMS_JWT_SECRET", Tokens.SECRET);
    pb.environment().put("LMS_HTTP_PORT", Integer.toString(TestNode.freePort()));
    pb.environment().put("LMS_CLUSTER_PORT", Integer.toString(TestNode.freePort()));
    pb.environment().put("LMS_DB_URL", "jdbc:postgresql://127.0.0.1:" + TestNode.freePort() + "/lms");
    Process p = pb.start();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the node did not exit");
    assertEquals(1, p.exitValue());
    String out = Files.readString(log.toPath());
    assertTrue(out.contains("the journal database at jdbc:postgresql://127.0.0.1:") && out.contains("LMS_DB_URL"), out);
    assertFalse(out.contains("\tat "), "no stack trace: " + out);
    System.out.println("unreachable database at start: " + out.lines().filter(l -> l.contains("journal database")).findFirst().orElse(""));
  }
}

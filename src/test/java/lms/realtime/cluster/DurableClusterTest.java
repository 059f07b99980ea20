package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.KillTimeline;
import lms.realtime.testkit.PgServer;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.RollingRestart;
import lms.realtime.testkit.Scrape;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Contract §9 on a cluster: three real node processes sharing a real PostgreSQL (Debian's, started
 * by the test on its own data). kill -9 of the node that owns a course room loses nothing: members
 * on the other nodes see every event, in order, without a reset; a member whose node died recovers
 * on another with {@code recovered:true}, and the room answers again within a bound (the timeline is
 * printed). A rolling restart likewise. And the database lost while a node runs: durable publishes
 * answer 503 (nothing half-applied) while the node stays ready and in service, and they come back with it.
 */
@Tag("process")
class DurableClusterTest {
  static PgServer pg;
  ProcessCluster nodes;

  @BeforeAll
  static void database() throws Exception {
    // CI installs PostgreSQL (.ci/run); elsewhere the suite runs without it
    assumeTrue(PgServer.available() || System.getenv("CI") != null, "PostgreSQL is not installed (apt-get install -y postgresql)");
    pg = PgServer.start();
  }

  @AfterAll
  static void stopDatabase() throws Exception {
    if (pg != null) {
      pg.close();
    }
  }

  @AfterEach
  void stopNodes() throws Exception {
    if (nodes != null) {
      nodes.close();
    }
    pg.ensureRunning(); // for the next test, when the database-lost one failed while it was away
  }

  ProcessCluster cluster(int size, String name) {
    nodes = new ProcessCluster(size, name, ProcessCluster.env("LMS_DB_URL", pg.url(), "LMS_DB_USER", "postgres", "LMS_DB_PASSWORD", ""));
    return nodes;
  }

  String roomOn(int target, int from) throws Exception {
    return nodes.roomOn(target, 0, from);
  }

  static String courseOf(String room) {
    return room.substring("course:".length());
  }

  @Test
  void killNineOfTheNodeThatOwnsARoomLosesNothingThenARollingRestart() throws Exception {
    cluster(3, "durable-cluster").startAllAndAwaitReady();
    String room = roomOn(2, 9100);
    String elsewhere = roomOn(1, 9200);
    WsClient survivor = nodes.connect(0, Tokens.student("dc-s0", courseOf(room)));
    WsClient doomed = nodes.connect(2, Tokens.student("dc-s2", courseOf(room), courseOf(elsewhere)));
    String epoch = survivor.join(room).get("epoch").asText();
    doomed.join(room);
    doomed.join(elsewhere);
    Set<Long> published = new TreeSet<>();
    for (int i = 0; i < 3; i++) {
      published.add(nodes.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"before\"}").get("seq").asLong());
    }
    long lastSeenByDoomed = 0;
    for (int i = 0; i < 3; i++) {
      lastSeenByDoomed = doomed.await("event").get("seq").asLong();
    }

    try (KillTimeline timeline = KillTimeline.kill(nodes, 2, room, elsewhere, "dc-s2")) {
      long killedAt = System.nanoTime();
      for (int i = 0; i < 5; i++) {
        // with an id: a publish that timed out while the room was between nodes (answered 503) is
        // delivered once the room is back, and the retry then answers its first seq instead of
        // publishing it twice
        JsonNode r = nodes.reliably(new int[] {0, 1}, "POST", "/api/v1/rooms/" + room + "/events",
            "{\"event\":\"after\",\"id\":\"after-" + i + "\",\"data\":{\"n\":" + i + "}}");
        assertEquals(epoch, r.get("epoch").asText(), "the room kept its epoch on its new node");
        published.add(r.get("seq").asLong());
      }
      System.out.printf("durable kill -9 of %s's node: publishing again %.1f s after the kill%n", room, (System.nanoTime() - killedAt) / 1e9);
      timeline.assertRoomAnswersWithin(KillTimeline.ROOMS_BACK_WITHIN);
    }

    // the member on a surviving node: every event, in order, no reset
    List<Long> seen = new ArrayList<>();
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (seen.size() < published.size() && System.nanoTime() < end) {
      String raw = survivor.nextRaw(Duration.ofMillis(200));
      if (raw == null) {
        continue;
      }
      JsonNode f = WsClient.JSON.readTree(raw);
      assertTrue(!"joined".equals(f.path("type").asText()), "no reset on a surviving node: " + raw);
      if ("event".equals(f.path("type").asText())) {
        assertEquals(epoch, f.get("epoch").asText());
        seen.add(f.get("seq").asLong());
      }
    }
    List<Long> expected = new ArrayList<>(published);
    assertEquals(expected, seen, "the survivor saw every event published after it joined, once, in order");
    assertEquals(expected.get(expected.size() - 1) - expected.get(0) + 1, expected.size(), "no seq was skipped: " + expected);

    // the member whose node died comes back through another node
    WsClient back = nodes.connect(1, Tokens.student("dc-s2", courseOf(room)));
    back.send("{\"type\":\"join\",\"room\":\"" + room + "\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + lastSeenByDoomed + "}}");
    JsonNode joined = back.await("joined", Duration.ofSeconds(20));
    assertTrue(joined.get("recovered").asBoolean(), joined.toString());
    Set<Long> recovered = new TreeSet<>();
    joined.get("missed").forEach(e -> recovered.add(e.get("seq").asLong()));
    Set<Long> missedWhileAway = new TreeSet<>(published);
    missedWhileAway.removeIf(s -> s <= 4);
    assertEquals(missedWhileAway, recovered, "recovered everything published after the kill");
    System.out.printf("durable kill -9: the survivor saw %d of %d events, the returning member recovered %d, recovered:true%n",
        seen.size(), published.size(), recovered.size());
    survivor.close();
    back.close();

    nodes.start(2);
    nodes.awaitReady(2);
    RollingRestart.run(nodes, room, Tokens.student("dc-watch", courseOf(room))).assertNothingLost();
  }

  /**
   * The database lost while the node runs: durable calls answer 503 {@code unavailable} and change
   * nothing; the node stays in service (issue 22, item 11): {@code /health/ready} stays 200 and says
   * {@code "journal":"down"}, {@code lms_journal_up} reads 0, a new socket connects, a memory room
   * publishes (backend and socket). All comes back with the database.
   */
  @Test
  void aDatabaseLostWhileRunningRefusesDurableCallsOnlyWhileTheNodeStaysReady() throws Exception {
    cluster(1, "durable-db-lost").startAllAndAwaitReady();
    String room = "course:9300";
    String path = "/api/v1/rooms/" + room + "/events";
    WsClient member = nodes.connect(0, Tokens.student("dl-s", "9300"));
    member.join(room);
    assertEquals(1, nodes.reliably(new int[] {0}, "POST", path, "{\"event\":\"before\"}").get("seq").asLong());
    member.await("event");
    assertEquals(1, journalUp());

    pg.stop();
    long lostAt = System.nanoTime();
    HttpResponse<String> first = nodes.call(0, "POST", path, "{\"event\":\"during\"}");
    assertUnavailable(first);
    double refusedAfter = (System.nanoTime() - lostAt) / 1e9;
    awaitJournalUp(0, Duration.ofSeconds(10));
    assertReady("down");
    // what does not need the database goes on: a new socket, a memory room's publishes both ways
    WsClient teacher = nodes.connect(0, Tokens.student("dl-t", "9300"));
    teacher.send("{\"type\":\"join\",\"room\":\"live:dl\",\"token\":\"" + Tokens.roomToken("dl-t", "live:dl", "instructor") + "\"}");
    teacher.expect("joined");
    teacher.send("{\"type\":\"publish\",\"id\":\"p\",\"room\":\"live:dl\",\"event\":\"from-socket\"}");
    assertEquals("p", teacher.await("ack").get("id").asText());
    HttpResponse<String> memory = nodes.call(0, "POST", "/api/v1/rooms/live:dl/events", "{\"event\":\"from-backend\"}");
    assertEquals(202, memory.statusCode(), "a memory room does not need the database: " + memory.body());
    assertEquals("from-backend", teacher.await("event").get("event").asText());
    int refused = 1;
    for (int i = 0; i < 5; i++) {
      assertUnavailable(nodes.call(0, "POST", path, "{\"event\":\"during\"}"));
      refused++;
    }
    assertReady("down");

    pg.startServer();
    long backAt = System.nanoTime();
    JsonNode after = WsClient.JSON.readTree(Eventually.within("durable publishes back with the database", Duration.ofSeconds(40),
        Duration.ofMillis(200), () -> nodes.call(0, "POST", path, "{\"event\":\"after\"}"), r -> r != null && r.statusCode() == 202).body());
    double backAfter = (System.nanoTime() - backAt) / 1e9;
    awaitJournalUp(1, Duration.ofSeconds(20));
    assertReady("up");
    // nothing half-applied: the refused publishes took no number, reached nobody
    JsonNode next = member.await("event", Duration.ofSeconds(10));
    assertEquals("after", next.get("event").asText(), "the member saw nothing of the refused publishes");
    assertEquals(2, next.get("seq").asLong());
    assertEquals(2, after.get("seq").asLong(), "numbering goes on where it stood");
    System.out.printf("database lost: durable publishes answered 503 %.1f s after, %d refused, the node ready with journal down"
        + " meanwhile; back: 202 %.1f s after it returned, seq 2 next%n", refusedAfter, refused, backAfter);
    member.close();
    teacher.close();
  }

  void assertUnavailable(HttpResponse<String> r) throws Exception {
    assertEquals(503, r.statusCode(), "a durable publish with the database gone: " + r.body());
    assertEquals("unavailable", WsClient.JSON.readTree(r.body()).get("error").asText(), r.body());
  }

  /** {@code /health/ready} answers 200: the node takes traffic, whatever the journal (which the body says). */
  void assertReady(String journal) {
    HttpResponse<String> r = nodes.call(0, "GET", "/health/ready", null);
    assertEquals(200, r.statusCode(), "the node is ready with its journal " + journal + ": " + r.body());
    assertEquals("{\"status\":\"ready\",\"journal\":\"" + journal + "\"}", r.body());
  }

  double journalUp() {
    return Scrape.find(nodes.call(0, "GET", "/metrics", null).body(), "lms_journal_up");
  }

  void awaitJournalUp(double value, Duration within) throws Exception {
    Eventually.within("lms_journal_up " + value, within, Duration.ofMillis(200), this::journalUp, up -> up == value);
  }

  /**
   * Kill -9 drills to measure, not run by default: {@code -Dlms.kill-drills=N} kills a node that holds
   * a durable room N times on one cluster, the oldest member (which hosts the sharding coordinators)
   * and a younger one in turn, starting it again between drills, and prints each timeline and the
   * medians of when the room answered again.
   */
  @Test
  @EnabledIfSystemProperty(named = "lms.kill-drills", matches = "[1-9][0-9]?")
  void repeatedKillDrills() throws Exception {
    int drills = Integer.getInteger("lms.kill-drills");
    nodes = new ProcessCluster(3, "kill-drills", ProcessCluster.env("LMS_DB_URL", pg.url(), "LMS_DB_USER", "postgres", "LMS_DB_PASSWORD", ""))
        .withManagement();
    nodes.startAllAndAwaitReady();
    List<Double> oldest = new ArrayList<>();
    List<Double> younger = new ArrayList<>();
    for (int d = 0; d < drills; d++) {
      int coordinator = nodes.oldest(0);
      int victim = d % 2 == 0 ? coordinator : (coordinator + 1) % 3;
      int survivor = nodes.others(victim)[0];
      String room = roomOn(victim, 10_000 + 200 * d);
      String elsewhere = roomOn(survivor, 10_100 + 200 * d);
      WsClient member = nodes.connect(victim, Tokens.student("kd-" + d, courseOf(room), courseOf(elsewhere)));
      member.join(room);
      member.join(elsewhere);
      System.out.printf("drill %d: kill -9 of node %d (%s)%n", d + 1, victim, victim == coordinator ? "the oldest" : "not the oldest");
      try (KillTimeline timeline = KillTimeline.kill(nodes, victim, room, elsewhere, "kd-" + d)) {
        (victim == coordinator ? oldest : younger).add(timeline.follow());
      }
      member.close();
      nodes.start(victim);
      nodes.awaitReady(victim);
    }
    System.out.printf("kill -9 drills: the room answered again after %s s with the oldest killed (median %.1f), %s s with"
        + " another (median %.1f)%n", KillTimeline.seconds(oldest), KillTimeline.median(oldest), KillTimeline.seconds(younger),
        KillTimeline.median(younger));
  }
}

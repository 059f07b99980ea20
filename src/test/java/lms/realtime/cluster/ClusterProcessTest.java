package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.KillTimeline;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.RollingRestart;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Three real node processes on loopback: kill -9 one (presence heals, its memory room answers again
 * on a survivor within the bound, the timeline printed; the room on a survivor goes on), then a
 * rolling restart of all three with SIGTERM while events flow (clients recover; nothing is lost).
 */
@Tag("process")
class ClusterProcessTest {
  static final String SERVICE = Tokens.service();
  // rooms in memory: this suite is about memory rooms across a crash (DurableClusterTest has the journal)
  final ProcessCluster nodes = new ProcessCluster(3, "cluster-process", ProcessCluster.env("LMS_DURABLE_ROOMS", ""));

  @AfterEach
  void stopAll() {
    nodes.close();
  }

  @Test
  void killNineThenARollingRestartOfAllThreeNodes() throws Exception {
    nodes.startAllAndAwaitReady();
    String room = nodes.roomOn(1, 0, 7700);
    String lost = nodes.roomOn(2, 0, 7800);
    String[] courses = {room.substring("course:".length()), lost.substring("course:".length())};
    WsClient teacher = nodes.connect(0, Tokens.instructor("p-teacher", courses));
    WsClient s1 = nodes.connect(1, Tokens.student("p-s1", courses));
    WsClient s2 = nodes.connect(2, Tokens.student("p-s2", courses));
    for (WsClient ws : new WsClient[] {teacher, s1, s2}) {
      ws.join(room);
    }
    s2.join(lost);
    nodes.reliably(new int[] {0}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"warmup\"}");
    for (WsClient ws : new WsClient[] {teacher, s1, s2}) {
      ws.await("event");
    }

    // --- kill -9 node 2: its user leaves presence, its memory room answers again on a survivor ---
    try (KillTimeline timeline = KillTimeline.kill(nodes, 2, lost, room, "p-s2")) {
      timeline.assertRoomAnswersWithin(KillTimeline.ROOMS_BACK_WITHIN);
    }
    JsonNode users = nodes.reliably(new int[] {0}, "GET", "/api/v1/rooms/" + room + "/presence", null).get("users");
    assertEquals(2, users.size(), "the dead node's user left presence, the others stayed: " + users);
    nodes.reliably(new int[] {0, 1}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"after-kill\"}");
    JsonNode afterKill = s1.await("event", Duration.ofSeconds(30));
    assertTrue(afterKill.get("event").asText().equals("after-kill") || afterKill.get("event").asText().equals("warmup"));
    nodes.start(2);
    nodes.awaitReady(2);

    // --- rolling restart of all three, one at a time, while events flow ---
    teacher.close();
    s1.close();
    s2.close();
    RollingRestart.run(nodes, room, Tokens.student("p-watch", courses)).assertNothingLost();
  }

  /**
   * Issue 12, item 10: a fresh three-node cluster, its processes started together as a deploy
   * does, whose nodes all report ready, takes a burst of 1,500 handshakes (500 per node, 48 at a
   * time, from 127.0.0.2..9) without a 503.
   */
  @Test
  void aFreshClusterThatReportsReadyTakesABurstOf1500HandshakesWithoutA503() throws Exception {
    nodes.startAllAndAwaitReady();
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < 1500; i++) {
      tokens.add(Tokens.student("burst-" + i, "1"));
    }
    Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
    ConcurrentLinkedQueue<Socket> held = new ConcurrentLinkedQueue<>();
    ExecutorService pool = Executors.newFixedThreadPool(48);
    try {
      long started = System.nanoTime();
      for (int i = 0; i < tokens.size(); i++) {
        int n = i;
        pool.execute(() -> {
          int status;
          try {
            Socket s = new Socket();
            s.bind(new InetSocketAddress("127.0.0." + (2 + n % 8), 0));
            s.connect(new InetSocketAddress("127.0.0.1", nodes.httpPorts[n % 3]), 5000);
            s.setSoTimeout(15_000);
            status = handshakeStatus(s, tokens.get(n));
            held.add(s);
          } catch (Exception e) {
            status = -1;
          }
          statuses.computeIfAbsent(status, k -> new AtomicInteger()).incrementAndGet();
        });
      }
      pool.shutdown();
      assertTrue(pool.awaitTermination(120, TimeUnit.SECONDS), "the burst did not finish in 120 s");
      Map<Integer, Integer> counts = new TreeMap<>();
      statuses.forEach((k, v) -> counts.put(k, v.get()));
      System.out.printf("ready burst: %d handshakes to a fresh 3-node cluster in %.1f s: status counts %s%n",
          tokens.size(), (System.nanoTime() - started) / 1e9, counts);
      assertEquals(Map.of(101, tokens.size()), counts, "every handshake of the burst switched protocols");
    } finally {
      pool.shutdownNow();
      for (Socket s : held) {
        s.close();
      }
    }
  }

  /** Sends an upgrade request and returns the status code of the answer. */
  static int handshakeStatus(Socket s, String token) throws Exception {
    s.getOutputStream().write(("GET /ws?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    InputStream in = s.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      head.write(b);
    }
    String line = head.toString(StandardCharsets.US_ASCII);
    return line.startsWith("HTTP/1.1 ") ? Integer.parseInt(line.substring(9, 12)) : -1;
  }

  /**
   * Issue 12: a node frozen for 15 s (SIGSTOP) under a steady publisher, then thawed, leaves no
   * silent gap on a client of another node: within one epoch, every event it sees follows the one
   * before, unless a joined with recovered:false (a reset) came between.
   */
  @Test
  void aNodeFrozenFor15SecondsLeavesNoSilentGap() throws Exception {
    nodes.startAllAndAwaitReady();
    String room = "course:77";
    WsClient client = nodes.connect(2, Tokens.student("p-frozen", "77"));
    client.join(room);
    AtomicBoolean publishing = new AtomicBoolean(true);
    java.util.concurrent.atomic.AtomicInteger published = new java.util.concurrent.atomic.AtomicInteger();
    Thread publisher = new Thread(() -> {
      int n = 0;
      while (publishing.get()) {
        HttpResponse<String> r = nodes.call(n % 2 == 0 ? 0 : 2, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"tick\",\"id\":\"f" + n + "\"}");
        if (r != null && r.statusCode() == 202) {
          published.incrementAndGet();
          n++;
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    publisher.start();
    // a steady publisher first: answered by both nodes it alternates between, ten times each
    Eventually.within("20 answered publishes", Duration.ofSeconds(60), Duration.ofMillis(20), published::get, n -> n >= 20);
    new ProcessBuilder("kill", "-STOP", Long.toString(nodes.processes[1].pid())).start().waitFor();
    List<String> frames = new ArrayList<>();
    long thaw = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < thaw) {
      String raw = client.nextRaw(Duration.ofMillis(200));
      if (raw != null) {
        frames.add(raw);
      }
    }
    new ProcessBuilder("kill", "-CONT", Long.toString(nodes.processes[1].pid())).start().waitFor();
    long end = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < end) {
      String raw = client.nextRaw(Duration.ofMillis(200));
      if (raw != null) {
        frames.add(raw);
      }
    }
    publishing.set(false);
    publisher.join(30_000);
    frames.addAll(client.drain());
    String epoch = null;
    long last = -1;
    int events = 0;
    int resets = 0;
    List<String> silentGaps = new ArrayList<>();
    for (String raw : frames) {
      JsonNode f = WsClient.JSON.readTree(raw);
      String type = f.path("type").asText();
      if ("joined".equals(type)) {
        resets++;
        epoch = f.get("epoch").asText();
        last = f.get("seq").asLong();
      } else if ("event".equals(type)) {
        events++;
        long seq = f.get("seq").asLong();
        if (f.get("epoch").asText().equals(epoch) && seq != last + 1) {
          silentGaps.add(last + " -> " + seq);
        }
        epoch = f.get("epoch").asText();
        last = seq;
      }
    }
    System.out.printf("node frozen 15 s: %d events published, %d received by a client of another node, %d resets,"
        + " silent gaps %s%n", published.get(), events, resets, silentGaps);
    assertTrue(silentGaps.isEmpty(), "silent gaps: " + silentGaps);
    assertTrue(events > 0, "the client received events");
    client.close();
  }
}

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
import lms.realtime.Main;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Three real node processes on loopback: kill -9 one (presence heals, the room goes on), then a
 * rolling restart of all three with SIGTERM while events flow (clients recover; nothing is lost).
 */
class ClusterProcessTest {
  static final String SERVICE = Tokens.service();
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
  final int[] httpPorts = {TestNode.freePort(), TestNode.freePort(), TestNode.freePort()};
  final int[] clusterPorts = {TestNode.freePort(), TestNode.freePort(), TestNode.freePort()};
  final Process[] processes = new Process[3];

  Process start(int i) throws Exception {
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    // the engine's own logging (LMS_LOG_LEVEL below), not the tests' logback-test.xml (WARN)
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xmx256m", "-Djava.util.concurrent.ForkJoinPool.common.parallelism=4",
        "-Dlogback.configurationFile=logback.xml",
        "-cp", System.getProperty("java.class.path"), Main.class.getName())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/cluster-process-node-" + i + ".log")));
    Map<String, String> env = pb.environment();
    env.put("LMS_HTTP_HOST", "127.0.0.1");
    env.put("LMS_HTTP_PORT", Integer.toString(httpPorts[i]));
    env.put("LMS_CLUSTER_PORT", Integer.toString(clusterPorts[i]));
    // every node names every seed: a restarted first seed then joins the others instead of forming a cluster of its own
    env.put("LMS_SEED_NODES", "127.0.0.1:" + clusterPorts[0] + ",127.0.0.1:" + clusterPorts[1] + ",127.0.0.1:" + clusterPorts[2]);
    env.put("LMS_JWT_SECRET", Tokens.SECRET);
    env.put("LMS_LOG_LEVEL", "INFO");
    processes[i] = pb.start();
    return processes[i];
  }

  String url(int i, String path) {
    return "http://127.0.0.1:" + httpPorts[i] + path;
  }

  void awaitReady(int i) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (true) {
      try {
        if (HTTP.send(HttpRequest.newBuilder(URI.create(url(i, "/health/ready"))).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (java.io.IOException notYet) {
        // starting
      }
      assertTrue(System.nanoTime() < deadline, "node " + i + " not ready");
      Thread.sleep(200);
    }
  }

  HttpResponse<String> call(int i, String method, String path, String body) {
    try {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(i, path))).timeout(Duration.ofSeconds(10))
          .header("Authorization", "Bearer " + SERVICE).header("Content-Type", "application/json");
      b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(body));
      return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      return null; // node down or mid-restart
    }
  }

  /** A backend call through the first node in {@code order} that answers 2xx, retrying for a while. */
  JsonNode reliably(int[] order, String method, String path, String body) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
    while (System.nanoTime() < deadline) {
      for (int i : order) {
        HttpResponse<String> r = call(i, method, path, body);
        if (r != null && r.statusCode() / 100 == 2) {
          return WsClient.JSON.readTree(r.body());
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError(method + " " + path + " failed on every node for 40 s");
  }

  WsClient connect(int i, String token) {
    WsClient ws = WsClient.connect("ws://127.0.0.1:" + httpPorts[i] + "/ws?token=" + token, Map.of());
    ws.expect("welcome");
    return ws;
  }

  /** The three nodes, started together, then each awaited until it reports ready. */
  void startAllAndAwaitReady() throws Exception {
    for (int i = 0; i < 3; i++) {
      start(i);
    }
    for (int i = 0; i < 3; i++) {
      awaitReady(i);
    }
  }

  @AfterEach
  void stopAll() {
    for (Process p : processes) {
      if (p != null && p.isAlive()) {
        p.destroyForcibly();
      }
    }
  }

  @Test
  void killNineThenARollingRestartOfAllThreeNodes() throws Exception {
    startAllAndAwaitReady();
    String room = "course:77";
    WsClient teacher = connect(0, Tokens.instructor("p-teacher", "77"));
    WsClient s1 = connect(1, Tokens.student("p-s1", "77"));
    WsClient s2 = connect(2, Tokens.student("p-s2", "77"));
    for (WsClient ws : new WsClient[] {teacher, s1, s2}) {
      ws.join(room);
    }
    reliably(new int[] {0}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"warmup\"}");
    for (WsClient ws : new WsClient[] {teacher, s1, s2}) {
      ws.await("event");
    }

    // --- kill -9 node 2: its user leaves presence, the room goes on ---
    long killedAt = System.nanoTime();
    processes[2].destroyForcibly();
    processes[2].waitFor(10, TimeUnit.SECONDS);
    double healed = -1;
    while (System.nanoTime() - killedAt < Duration.ofSeconds(40).toNanos()) {
      HttpResponse<String> r = call(0, "GET", "/api/v1/rooms/" + room + "/presence", null);
      if (r != null && r.statusCode() == 200 && !r.body().contains("p-s2") && r.body().contains("p-s1")) {
        healed = (System.nanoTime() - killedAt) / 1e9;
        break;
      }
      Thread.sleep(100);
    }
    assertTrue(healed > 0 && healed < 30, "presence not healed within 30 s of kill -9: " + healed);
    System.out.printf("kill -9: presence healed %.1f s after the kill%n", healed);
    reliably(new int[] {0, 1}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"after-kill\"}");
    JsonNode afterKill = s1.await("event", Duration.ofSeconds(30));
    assertTrue(afterKill.get("event").asText().equals("after-kill") || afterKill.get("event").asText().equals("warmup"));
    start(2);
    awaitReady(2);

    // --- rolling restart of all three, one at a time, while events flow ---
    teacher.close();
    s1.close();
    s2.close();
    Set<Long> published = new ConcurrentSkipListSet<>();
    Set<String> epochs = new ConcurrentSkipListSet<>();
    AtomicBoolean publishing = new AtomicBoolean(true);
    Thread publisher = new Thread(() -> {
      int n = 0;
      while (publishing.get()) {
        try {
          JsonNode r = reliably(new int[] {(n % 3), ((n + 1) % 3), ((n + 2) % 3)}, "POST", "/api/v1/rooms/" + room + "/events",
              "{\"event\":\"tick\",\"data\":{\"n\":" + n + "}}");
          published.add(r.get("seq").asLong());
          epochs.add(r.get("epoch").asText());
          n++;
          Thread.sleep(50);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    });
    RecoveringClient watcher = new RecoveringClient(room);
    watcher.connect(0);
    publisher.start();
    Thread.sleep(1000);
    int[] restartOrder = {2, 1, 0};
    for (int victim : restartOrder) {
      new ProcessBuilder("kill", "-TERM", Long.toString(processes[victim].pid())).start().waitFor();
      if (watcher.node == victim) {
        watcher.readUntilClosed();           // everything up to the 1012 of the stopping node
        watcher.connect((victim + 1) % 3);   // and back in through another node, with since
      }
      assertTrue(processes[victim].waitFor(60, TimeUnit.SECONDS), "node " + victim + " did not stop on SIGTERM");
      assertEquals(0, processes[victim].exitValue(), "exit code after SIGTERM");
      start(victim);
      awaitReady(victim);
      Thread.sleep(1000);
    }
    Thread.sleep(1000);
    publishing.set(false);
    publisher.join(60_000);
    watcher.drainFor(Duration.ofSeconds(3));

    Set<Long> lost = new TreeSet<>(published);
    lost.removeAll(watcher.seen);
    System.out.printf("rolling restart of 3 nodes: %d events published, %d received by a client that reconnected %d times,"
            + " %d lost, epochs %s, recovered joins %d of %d%n",
        published.size(), watcher.seen.size(), watcher.connects - 1, lost.size(), epochs, watcher.recovered, watcher.connects - 1);
    assertEquals(1, epochs.size(), "the room kept its epoch through the rolling restart");
    assertTrue(lost.isEmpty(), "lost events: " + lost);
    assertEquals(watcher.connects - 1, watcher.recovered, "every reconnect recovered");
    watcher.ws.close();
  }

  /**
   * Issue 12, item 10: a fresh three-node cluster, its processes started together as a deploy
   * does, whose nodes all report ready, takes a burst of 1,500 handshakes (500 per node, 48 at a
   * time, from 127.0.0.2..9) without a 503.
   */
  @Test
  void aFreshClusterThatReportsReadyTakesABurstOf1500HandshakesWithoutA503() throws Exception {
    startAllAndAwaitReady();
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
            s.connect(new InetSocketAddress("127.0.0.1", httpPorts[n % 3]), 5000);
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
    startAllAndAwaitReady();
    String room = "course:77";
    WsClient client = connect(2, Tokens.student("p-frozen", "77"));
    client.join(room);
    AtomicBoolean publishing = new AtomicBoolean(true);
    java.util.concurrent.atomic.AtomicInteger published = new java.util.concurrent.atomic.AtomicInteger();
    Thread publisher = new Thread(() -> {
      int n = 0;
      while (publishing.get()) {
        HttpResponse<String> r = call(n % 2 == 0 ? 0 : 2, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"tick\",\"id\":\"f" + n + "\"}");
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
    Thread.sleep(2000);
    new ProcessBuilder("kill", "-STOP", Long.toString(processes[1].pid())).start().waitFor();
    List<String> frames = new ArrayList<>();
    long thaw = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < thaw) {
      String raw = client.nextRaw(Duration.ofMillis(200));
      if (raw != null) {
        frames.add(raw);
      }
    }
    new ProcessBuilder("kill", "-CONT", Long.toString(processes[1].pid())).start().waitFor();
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

  /** A client that follows one room across reconnects, joining with since and keeping every seq seen. */
  final class RecoveringClient {
    final String room;
    final Set<Long> seen = new ConcurrentSkipListSet<>();
    WsClient ws;
    int node;
    String epoch;
    long seq;
    int connects;
    int recovered;

    RecoveringClient(String room) {
      this.room = room;
    }

    void connect(int node) {
      this.node = node;
      ws = ClusterProcessTest.this.connect(node, Tokens.student("p-watch", "77"));
      String since = epoch == null ? "" : ",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + seq + "}";
      ws.send("{\"type\":\"join\",\"room\":\"" + room + "\"" + since + "}");
      JsonNode joined = ws.await("joined", Duration.ofSeconds(30));
      if (epoch != null && joined.get("recovered").asBoolean()) {
        recovered++;
        for (JsonNode e : joined.get("missed")) {
          take(e);
        }
      }
      if (epoch == null || !joined.get("recovered").asBoolean()) {
        epoch = joined.get("epoch").asText();
        seq = joined.get("seq").asLong();
      }
      connects++;
    }

    void take(JsonNode e) {
      if (e.get("epoch").asText().equals(epoch)) {
        seen.add(e.get("seq").asLong());
        seq = Math.max(seq, e.get("seq").asLong());
      }
    }

    void readUntilClosed() {
      while (!ws.closed().isDone()) {
        String raw = ws.nextRaw(Duration.ofMillis(200));
        if (raw != null) {
          handle(raw);
        }
      }
      ws.drain().forEach(this::handle);
    }

    void drainFor(Duration d) {
      long end = System.nanoTime() + d.toNanos();
      while (System.nanoTime() < end) {
        String raw = ws.nextRaw(Duration.ofMillis(100));
        if (raw != null) {
          handle(raw);
        }
      }
    }

    void handle(String raw) {
      try {
        JsonNode f = WsClient.JSON.readTree(raw);
        if ("event".equals(f.path("type").asText())) {
          take(f);
        }
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
  }
}

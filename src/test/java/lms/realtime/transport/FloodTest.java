package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import lms.realtime.Main;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.HalfOpen;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.Scrape;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 12, "done when": a fuzz and flood run against a node in its own process with a small heap
 * (192 MiB) leaves it up, answering a real client throughout, and what it holds afterwards (heap
 * after a GC, open files, sockets) back near where it started, as its own /metrics shows.
 */
@Tag("process")
class FloodTest {
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
  static final String SERVICE = Tokens.service();
  static final Duration HEADER_TIMEOUT = Duration.ofSeconds(2);

  int port;

  String metrics() throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  /** The sum of every series of this metric whose labels contain {@code labelPart}. */
  record Held(double heapMiB, double openFiles, double sockets) {
    static Held of(String metrics) {
      return new Held(Scrape.sum(metrics, "jvm_memory_used_bytes", "area=\"heap\"") / (1 << 20),
          Scrape.sum(metrics, "process_files_open_files", ""), Scrape.sum(metrics, "lms_sockets_open", ""));
    }

    @Override
    public String toString() {
      return String.format("heap %.1f MiB, %.0f open files, %.0f sockets", heapMiB, openFiles, sockets);
    }
  }

  Held afterGc(Process process) throws Exception {
    new ProcessBuilder("jcmd", Long.toString(process.pid()), "GC.run").redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    return Held.of(metrics());
  }

  WsClient open(String token) {
    WsClient ws = WsClient.connect("ws://127.0.0.1:" + port + "/ws?token=" + token, Map.of());
    ws.expect("welcome");
    return ws;
  }

  /** Sends frames until {@code n} are sent or the node has closed the socket; returns how many went. */
  static int sendUpTo(WsClient ws, int n, java.util.function.Supplier<String> frame) {
    for (int i = 0; i < n; i++) {
      try {
        ws.send(frame.get());
      } catch (RuntimeException closed) {
        return i;
      }
    }
    return n;
  }

  @Test
  void aFuzzAndFloodRunLeavesTheNodeUpWithBoundedMemory() throws Exception {
    port = TestNode.freePort();
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xmx192m", "-cp", System.getProperty("java.class.path"), Main.class.getName())
        .redirectErrorStream(true).redirectOutput(new File("target/flood-node-" + TestNode.transport() + ".log"));
    pb.environment().put("LMS_HTTP_HOST", "127.0.0.1");
    pb.environment().put("LMS_HTTP_PORT", Integer.toString(port));
    pb.environment().put("LMS_CLUSTER_PORT", Integer.toString(TestNode.freePort()));
    pb.environment().put("LMS_JWT_SECRET", Tokens.SECRET);
    pb.environment().put("LMS_TRANSPORT", TestNode.transport());
    pb.environment().put("LMS_DATA_DIR", TestNode.dataDir());
    pb.environment().put("LMS_HEADER_TIMEOUT", HEADER_TIMEOUT.toMillis() + "ms");
    Process process = pb.start();
    List<AutoCloseable> held = new ArrayList<>();
    try {
      ProcessCluster.awaitReady("http://127.0.0.1:" + port + "/health/ready", Duration.ofSeconds(60));
      WsClient watcher = open(Tokens.instructor("flood-watch", "950"));
      watcher.join("course:950");
      Held before = afterGc(process);

      // the metrics over the run, every 250 ms: the peak heap is what the flood cost at most
      AtomicLong peakHeap = new AtomicLong();
      Thread sampler = new Thread(() -> {
        while (!Thread.currentThread().isInterrupted()) {
          try {
            peakHeap.accumulateAndGet((long) (Held.of(metrics()).heapMiB() * (1 << 20)), Math::max);
            Thread.sleep(250);
          } catch (InterruptedException e) {
            return;
          } catch (Exception e) {
            // a slow answer under the flood: the next sample
          }
        }
      });
      sampler.setDaemon(true);
      sampler.start();

      // 1. 1,000 half-open connections: a partial request line, from ten addresses
      long t0 = System.nanoTime();
      List<Socket> halfOpen = new ArrayList<>();
      for (int i = 0; i < 1000; i++) {
        halfOpen.add(HalfOpen.partial("127.0.0." + (2 + i % 10), port, "GET /ws?token="));
      }
      held.addAll(halfOpen);
      // 2. recovery frames: 100 events of 60 KB in one's own room, five paused sockets x 100 joins with since
      String data = "x".repeat(60_000);
      String epoch = null;
      for (int i = 0; i < 100; i++) {
        HttpResponse<String> p = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/rooms/user:flood/events"))
            .header("Authorization", "Bearer " + SERVICE).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"event\":\"e\",\"data\":\"" + data + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(202, p.statusCode(), p.body());
        epoch = WsClient.JSON.readTree(p.body()).get("epoch").asText();
      }
      for (int s = 0; s < 5; s++) {
        WsClient p = open(Tokens.student("flood"));
        p.pause();
        for (int i = 0; i < 100; i++) {
          p.send("{\"type\":\"join\",\"room\":\"user:flood\",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":0}}");
        }
        held.add(p::close);
      }
      // 3. fuzz: 2,000 malformed and random frames, and 2,000 leaves of random rooms, on other sockets
      Random random = new Random(42);
      WsClient fuzzer = open(Tokens.student("flood-fuzz", "950"));
      WsClient leaver = open(Tokens.student("flood-leave", "950"));
      // (past the rate limit the node closes them, 4029: then the rest is not sent)
      int fuzzed = sendUpTo(fuzzer, 2000, () -> FuzzTest.frame(random.nextInt(8), random));
      int left = sendUpTo(leaver, 2000, () -> "{\"type\":\"leave\",\"room\":\"course:r" + random.nextInt(1_000_000) + "\"}");
      held.add(fuzzer::close);
      held.add(leaver::close);
      // 4. five frames of 2 MB, each announced and sent in full on a raw socket
      for (int i = 0; i < 5; i++) {
        try (RawSocket raw = new RawSocket(port, "flood-big-" + i)) {
          byte[] big = new byte[2 << 20];
          java.util.Arrays.fill(big, (byte) 'a');
          try {
            raw.send(0x81, big, true);
          } catch (java.io.IOException closedOnUs) {
            // the node may close before the whole frame is in
          }
        }
      }

      // throughout: a real client is served
      WsClient late = open(Tokens.instructor("flood-late", "950"));
      late.join("course:950");
      late.send("{\"type\":\"publish\",\"id\":\"p\",\"room\":\"course:950\",\"event\":\"still\",\"data\":{}}");
      assertEquals("ack", late.await("ack").get("type").asText());
      assertEquals("still", watcher.await("event").get("event").asText());
      Held during = Held.of(metrics());

      // the half-open ones go at the header timeout (each read until the engine closes it); the rest the test closes
      int halfOpenClosed = HalfOpen.closedBy(halfOpen, t0 + HEADER_TIMEOUT.plusSeconds(10).toNanos());
      for (AutoCloseable c : held) {
        c.close();
      }
      held.clear();
      // until the node has let every closed socket go, as its own /metrics says
      Eventually.within(Duration.ofSeconds(20), Duration.ofMillis(100), () -> Held.of(metrics()),
          h -> h.sockets() == before.sockets() + 1 && h.openFiles() < before.openFiles() + 20);
      sampler.interrupt();
      Held after = afterGc(process);
      System.out.printf("flood (%s): 1,000 half-open, 5 paused x 100 re-joins over 100 x 60 KB, %d fuzz frames, %d leaves,"
              + " 5 frames of 2 MB: before %s; during %s; peak heap %.1f MiB of 192; after a GC %s%n",
          TestNode.transport(), fuzzed, left, before, during, peakHeap.get() / (double) (1 << 20), after);
      assertTrue(process.isAlive(), "the node went down");
      assertEquals(1000, halfOpenClosed, "half-open connections still held past the header timeout");
      assertTrue(during.openFiles() < before.openFiles() + 1100, "open files during: " + during);
      assertTrue(after.heapMiB() < before.heapMiB() + 24, "heap after the flood and a GC: " + after + ", before: " + before);
      assertTrue(after.openFiles() < before.openFiles() + 20, "open files after: " + after + ", before: " + before);
      assertEquals(before.sockets() + 1, after.sockets(), "the watcher and the late client are all that is left: " + after);
      late.close();
      watcher.close();
    } finally {
      for (AutoCloseable c : held) {
        try {
          c.close();
        } catch (Exception ignored) {
          // closing anyway
        }
      }
      process.destroyForcibly();
    }
  }
}

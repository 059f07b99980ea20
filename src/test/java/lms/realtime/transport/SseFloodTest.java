package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import lms.realtime.testkit.HalfOpen;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.Scrape;
import lms.realtime.testkit.SseClient;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 24's flood, against a node in its own process with a small heap (256 MiB): 2,000 half-open
 * {@code GET /sse} requests (part of a request line, from twenty addresses, a hundred each) are closed at the header
 * timeout, 2,000 idle event streams (each past its welcome, then never read or written) cost a
 * bounded heap per stream, a real stream is served all the while, and once the streams end the
 * node holds what it held before, as its own /metrics shows. Both transports.
 */
@Tag("process")
class SseFloodTest {
  static final int HALF_OPEN = 2000;
  static final int STREAMS = 2000;
  /** Loopback addresses the flood comes from (the per-address caps stay at their defaults). */
  static final int ADDRESSES = 20;
  static final Duration HEADER_TIMEOUT = Duration.ofSeconds(2);

  record Held(double heapMiB, double streams, double openFiles) {
    static Held of(String metrics) {
      return new Held(Scrape.sum(metrics, "jvm_memory_used_bytes", "area=\"heap\"") / (1 << 20),
          Scrape.sum(metrics, "lms_connections_open", "kind=\"sse\""), Scrape.sum(metrics, "process_files_open_files", ""));
    }

    @Override
    public String toString() {
      return String.format("heap %.1f MiB, %.0f streams, %.0f open files", heapMiB, streams, openFiles);
    }
  }

  @Test
  void halfOpenRequestsAndIdleStreamsLeaveTheNodeUpWithBoundedMemory() throws Exception {
    try (ProcessCluster node = new ProcessCluster(1, "sse-flood", ProcessCluster.env(
        "LMS_TRANSPORT", TestNode.transport(), "LMS_DATA_DIR", TestNode.dataDir(), "LMS_HEADER_TIMEOUT", HEADER_TIMEOUT.toMillis() + "ms",
        "LMS_LOG_LEVEL", "WARN",
        // the streams' keep-alive comments, from one timer per loop (netty) or per node (pekko-http), to
        // every stream; on pekko-http they are also how a stream learns that its client is gone
        "LMS_SSE_KEEP_ALIVE", "2s"))) {
      node.start(0);
      node.awaitReady(0);
      int port = node.httpPorts[0];
      Held before = afterGc(node);
      List<Socket> held = new ArrayList<>();
      try {
        // 1. half-open: part of a request line, never finished
        long t0 = System.nanoTime();
        for (int i = 0; i < HALF_OPEN; i++) {
          held.add(HalfOpen.partial(address(0, i), port, "GET /sse?token="));
        }
        // 2. idle streams: each read up to its welcome, then left alone
        List<Socket> streams = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
          streams.add(idleStream(i, port, Tokens.student("idle-" + i)));
        }
        held.addAll(streams);
        long streamsOpen = System.nanoTime();
        // throughout: a real stream is served
        Held during;
        int halfOpenClosed = 0;
        try (SseClient real = SseClient.open(port, Tokens.student("flood-real"))) {
          real.send("{\"type\":\"ping\",\"id\":\"alive\"}");
          assertEquals("alive", real.expect("pong").get("id").asText());
          // the half-open ones go at the header timeout: each is read until the engine closes it
          halfOpenClosed = HalfOpen.closedBy(held.subList(0, HALF_OPEN), t0 + HEADER_TIMEOUT.plusSeconds(10).toNanos());
          // the streams stay (a stream is a response, not a request): until the newest is past the timeout too
          Thread.sleep(Math.max(0, (streamsOpen - System.nanoTime()) / 1_000_000 + HEADER_TIMEOUT.plusMillis(250).toMillis()));
          during = afterGc(node);
          real.send("{\"type\":\"ping\",\"id\":\"still\"}");
          assertEquals("still", real.expect("pong").get("id").asText());
        }
        double perStreamKiB = (during.heapMiB() - before.heapMiB()) * 1024 / (STREAMS + 1);
        for (Socket s : held) {
          s.close();
        }
        held.clear();
        assertTrue(SseClient.until(() -> {
          try {
            return Held.of(metrics(node)).streams() == 0;
          } catch (Exception e) {
            return false;
          }
        }, Duration.ofSeconds(20)), "the streams are gone from the node");
        Held after = afterGc(node);
        System.out.printf("sse flood (%s): %d half-open, %d closed at the header timeout; %d idle streams: before %s;"
                + " with the streams %s (%.1f KiB of heap per stream); after %s%n",
            TestNode.transport(), HALF_OPEN, halfOpenClosed, STREAMS, before, during, perStreamKiB, after);
        assertTrue(node.processes[0].isAlive(), "the node went down");
        assertEquals(HALF_OPEN, halfOpenClosed, "half-open requests still held");
        assertEquals(STREAMS + 1, during.streams(), "every idle stream stays open (and the real one)");
        assertTrue(perStreamKiB < 48, "heap per idle stream: " + perStreamKiB + " KiB");
        assertTrue(after.heapMiB() < before.heapMiB() + 16, "heap after the flood and a GC: " + after + ", before: " + before);
        assertTrue(after.openFiles() < before.openFiles() + 20, "open files after: " + after + ", before: " + before);
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
    }
  }

  /**
   * One of {@link #ADDRESSES} loopback addresses from {@code 127.0.0.(2 + first)}: the half-open
   * requests and the streams come from different ones, so that the per-address cap on unfinished
   * requests (100) is not what refuses a stream.
   */
  static String address(int first, int i) {
    return "127.0.0." + (2 + first + i % ADDRESSES);
  }

  /** A {@code GET /sse} read up to the end of its welcome event; then nothing more is read. */
  static Socket idleStream(int i, int port, String token) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(address(ADDRESSES, i), 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.setSoTimeout(10_000);
    s.getOutputStream().write(("GET /sse?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    InputStream in = s.getInputStream();
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    byte[] buffer = new byte[2048];
    while (true) {
      String text = got.toString(StandardCharsets.UTF_8);
      int welcome = text.indexOf("\"welcome\"");
      if (welcome >= 0 && text.indexOf("\n\n", welcome) >= 0) {
        assertTrue(text.startsWith("HTTP/1.1 200"), text);
        return s;
      }
      int n = in.read(buffer);
      if (n < 0) {
        throw new AssertionError("stream " + i + " ended before its welcome: " + text);
      }
      got.write(buffer, 0, n);
    }
  }

  static String metrics(ProcessCluster node) throws Exception {
    return node.call(0, "GET", "/metrics", null).body();
  }

  static Held afterGc(ProcessCluster node) throws Exception {
    new ProcessBuilder("jcmd", Long.toString(node.processes[0].pid()), "GC.run").redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    return Held.of(metrics(node));
  }
}

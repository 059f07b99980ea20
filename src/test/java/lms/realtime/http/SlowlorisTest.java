package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.HalfOpen;
import lms.realtime.testkit.RawHttp;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Half-open connections (issue 12): a client that opens TCP connections and sends part of a request
 * line used to keep them for ever (2,000 of 2,000 held 21 s later). A connection that has not sent a
 * whole request within lms.http.header-timeout is closed, unfinished requests are capped per address,
 * and a real client gets in all the while.
 */
@Tag("socket")
class SlowlorisTest {

  static Socket partial(String fromAddress, int port) throws IOException {
    return HalfOpen.partial(fromAddress, port, "GET /ws?tok");
  }

  /** A whole handshake from another address, read up to its 101 and welcome frame. */
  static String realClient(int port) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress("127.0.0.2", 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(("GET /ws?token=" + Tokens.student("real") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          + "Sec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      byte[] buf = new byte[4096];
      StringBuilder got = new StringBuilder();
      InputStream in = s.getInputStream();
      while (!got.toString().contains("welcome")) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        got.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
      }
      return got.toString();
    }
  }

  @Test
  void halfOpenConnectionsAreClosedAndARealClientStillGetsIn() throws Exception {
    Duration headerTimeout = Duration.ofSeconds(2);
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", headerTimeout.toMillis() + "ms",
        "lms.http.max-unfinished-per-ip", 3000))) {
      List<Socket> flood = new ArrayList<>();
      long t0 = System.nanoTime();
      try {
        for (int i = 0; i < 2000; i++) {
          flood.add(partial("127.0.0.1", node.port));
        }
        String answer = realClient(node.port);
        assertTrue(answer.startsWith("HTTP/1.1 101") && answer.contains("welcome"), answer);
        // each is read until the engine closes it (the last one ends the wait, not the bound). Measured:
        // all closed 2.5-2.8 s after t0 on netty, 4.7-5.5 s on pekko-http (it closes the last ones
        // seconds after the timeout under the flood); the bound leaves room for a loaded CI box and
        // still tells a header timeout from the 120 s idle timeout
        int closed = HalfOpen.closedBy(flood, t0 + headerTimeout.plusSeconds(6).toNanos());
        System.out.printf("2,000 half-open connections: %d closed by the engine %.1f s after they opened%n",
            closed, (System.nanoTime() - t0) / 1e9);
        assertEquals(2000, closed, "half-open connections still held");
        assertTrue(realClient(node.port).contains("welcome"), "and a real client after the flood");
      } finally {
        for (Socket s : flood) {
          s.close();
        }
      }
    }
  }

  @Test
  void unfinishedRequestsArCappedPerAddress() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", "10s", "lms.http.max-unfinished-per-ip", 50))) {
      List<Socket> flood = new ArrayList<>();
      try {
        for (int i = 0; i < 80; i++) {
          flood.add(partial("127.0.0.1", node.port));
        }
        // the 30 past the cap go at once, well within the header timeout
        Eventually.within(Duration.ofSeconds(5), () -> HalfOpen.closedNow(flood), n -> n >= 30);
        assertTrue(realClient(node.port).contains("welcome"), "another address still gets in");
        // and only those: after a later connection was served, the 50 under the cap are still held
        int closed = HalfOpen.closedNow(flood);
        System.out.printf("80 unfinished requests from one address with a cap of 50: %d closed at once%n", closed);
        assertEquals(30, closed);
      } finally {
        for (Socket s : flood) {
          s.close();
        }
      }
    }
  }

  private static final String LIVE = "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  /** The start of a second request, in the same write as the first. */
  private static final String HALF = "GET /health/live HTTP/1.1\r\nHo";

  /**
   * Issue 22: after one whole request, the start of a second in the same read was never timed: the
   * connection was held until the idle timeout (120 s). Now every request is, from its first byte,
   * also after a refused WebSocket handshake.
   */
  @Test
  void aSecondRequestBegunInTheSameReadIsTimed() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", "1s"))) {
      String refusedUpgrade = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      for (String[] first : new String[][] {{LIVE, "200"}, {refusedUpgrade, "401"}}) {
        try (Socket s = RawHttp.open("127.0.0.1", node.port)) {
          long t0 = System.nanoTime();
          RawHttp.write(s, first[0] + HALF);
          String answer = RawHttp.response(s);
          assertEquals(Integer.parseInt(first[1]), RawHttp.status(answer), answer);
          assertTrue(RawHttp.closedWithin(s, Duration.ofSeconds(5)), "the half request was not timed (idle timeout: 120 s)");
          System.out.printf("a half request after a %s in one read: closed %.1f s after it came%n", first[1], (System.nanoTime() - t0) / 1e9);
        }
      }
    }
  }

  /** A kept-alive connection with nothing unfinished is the idle timeout's, not the header timer's. */
  @Test
  void aKeptAliveConnectionWithNothingUnfinishedIsNotTimed() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", "1s"));
        Socket s = RawHttp.open("127.0.0.1", node.port)) {
      RawHttp.write(s, "POST /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}");
      assertTrue(RawHttp.status(RawHttp.response(s)) >= 400, "answered (not a route for POST)");
      assertFalse(RawHttp.closedWithin(s, Duration.ofMillis(2500)), "closed while idle between requests");
      RawHttp.write(s, LIVE);
      assertEquals(200, RawHttp.status(RawHttp.response(s)));
    }
  }

  /** And a WebSocket is never timed as a request: its frames after the 101 are not requests. */
  @Test
  void aWebSocketOutlivesTheHeaderTimeout() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", "1s"));
        WsClient ws = node.open(Tokens.student("slow-socket"))) {
      ws.send("{\"type\":\"ping\",\"id\":\"1\"}");
      assertEquals("1", ws.expect("pong").get("id").asText());
      ws.expectNothing(Duration.ofMillis(2500));
      ws.send("{\"type\":\"ping\",\"id\":\"2\"}");
      assertEquals("2", ws.expect("pong").get("id").asText(), "still open past the header timeout");
    }
  }

  /**
   * Issue 22: a half request after a whole one holds a slot of lms.http.max-unfinished-per-ip like a
   * first one does (it held none): with a cap of 5, five such connections are answered and held, and
   * the sixth to eighth from that address are closed at once, while another address gets in.
   */
  @Test
  void pipelinedHalfRequestsCountTowardTheCapPerAddress() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.http.header-timeout", "30s", "lms.http.max-unfinished-per-ip", 5))) {
      List<Socket> held = new ArrayList<>();
      try {
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
          Socket s = RawHttp.open("127.0.0.1", node.port);
          held.add(s);
          try {
            RawHttp.write(s, LIVE + HALF);
          } catch (IOException e) {
            // closed before the write: no answer below
          }
          statuses.add(RawHttp.status(RawHttp.response(s)));
        }
        System.out.println("8 connections with a half request after a whole one, a cap of 5: " + statuses);
        assertEquals(List.of(200, 200, 200, 200, 200, -1, -1, -1), statuses);
        assertTrue(realClient(node.port).contains("welcome"), "another address still gets in");
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
    }
  }
}

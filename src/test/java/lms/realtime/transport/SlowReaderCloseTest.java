package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 22, item 9: a client on a slow link keeps its heartbeat while it does not read fast enough.
 * The engine closes it with 4008, and that close frame must reach it when it reads again, behind
 * whatever was already on its way: not a reset (the client's 1006). Both transports.
 */
@Tag("socket")
class SlowReaderCloseTest {
  static final String SERVICE = Tokens.service();
  static final String PING = "{\"type\":\"ping\"}";
  /** The client's link when it reads again: 1 MB/s. */
  static final int LINK_BYTES_PER_TENTH = 100 * 1024;

  @Test
  void aPausedReaderThatKeepsPingingGets4008WhenItReadsAgain() throws Exception {
    // memory rooms (the journal would only slow the publisher down); a short close handshake, so
    // that the pause below outlasts it as a slow link's would outlast the default
    try (TestNode node = TestNode.start(Map.of("lms.durable.rooms", "", "lms.limits.close-handshake-timeout", "1s"));
        RawSocket client = new RawSocket(node.port, "pinger", 8192)) {
      client.text("{\"type\":\"join\",\"room\":\"course:7\",\"id\":\"j\"}", true);
      assertTrue(client.readData().text().contains("\"joined\""));
      Semaphore pingsSent = new Semaphore(0);
      AtomicReference<IOException> heartbeatFailed = new AtomicReference<>();
      ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor();
      heartbeat.scheduleAtFixedRate(() -> {
        try {
          client.text(PING, true);
          pingsSent.release();
        } catch (IOException connectionGone) {
          heartbeatFailed.set(connectionGone);
          pingsSent.release(Integer.MAX_VALUE / 2);
          throw new IllegalStateException(connectionGone); // no more runs
        }
      }, 0, 500, TimeUnit.MILLISECONDS);
      try {
        int published = publishUntilClosed(node, "course:7");
        // still not reading, still pinging, for 2.5 s more: past the close handshake's timeout
        pingsSent.drainPermits();
        assertTrue(pingsSent.tryAcquire(5, 10, TimeUnit.SECONDS), "the heartbeat is stuck");
        int events = 0;
        long bytes = 0;
        RawSocket.Frame last;
        try {
          for (last = client.readData(); last.opcode() != 0x8; last = client.readData()) {
            events += last.text().contains("\"event\"") ? 1 : 0;
            bytes += last.payload().length;
            if (bytes >= LINK_BYTES_PER_TENTH) { // still a slow link: it reads on at its own pace
              bytes = 0;
              Thread.sleep(100);
            }
          }
        } catch (IOException e) {
          throw new AssertionError("the connection ended without the close frame (a client sees 1006); the heartbeat "
              + (heartbeatFailed.get() == null ? "went on" : "failed: " + heartbeatFailed.get()), e);
        }
        System.out.printf("paused pinging reader: read %d of %d events, then the close frame%n", events, published);
        assertEquals(4008, last.closeCode());
        ProtectionTest.assertRetryAdvice(new String(last.payload(), 2, last.payload().length - 2, StandardCharsets.UTF_8), 1000, 10000);
      } finally {
        heartbeat.shutdownNow();
      }
    }
  }

  /** Publishes 4 KB events until the node has closed a slow reader with 4008; returns how many. */
  static int publishUntilClosed(TestNode node, String room) {
    String body = "{\"event\":\"e\",\"data\":\"" + "p".repeat(4096) + "\"}";
    for (int i = 1; i <= 4000; i++) {
      assertEquals(202, node.post("/api/v1/rooms/" + room + "/events", SERVICE, body).statusCode());
      if (i % 20 == 0 && node.metric("lms_sockets_closed_total{code=\"4008\"}") == 1) {
        return i;
      }
    }
    return fail("no 4008 after 4000 events");
  }
}

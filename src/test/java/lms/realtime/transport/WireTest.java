package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.Scrape;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * RFC 6455 at the byte level, through a raw TCP socket: what a browser's WebSocket never sends
 * (unmasked frames, reserved bits, broken UTF-8, fragments with control frames between them) and
 * what the engine's own socket stage must answer.
 */
@Tag("socket")
class WireTest {
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of("lms.keep-alive-idle", "1s"));

  @Test
  void fragmentedMessageWithPingBetweenIsOneMessageAndThePingIsAnswered() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w1")) {
      c.text("{\"type\":\"pi", false);
      c.send(0x89, "hi".getBytes(StandardCharsets.US_ASCII), true); // ping between the fragments
      RawSocket.Frame pong = c.read();
      assertEquals(0xA, pong.opcode());
      assertArrayEquals("hi".getBytes(StandardCharsets.US_ASCII), pong.payload());
      c.send(0x00, "ng\",\"id\":\"f1\"}".getBytes(StandardCharsets.UTF_8), true); // continuation, not final
      c.send(0x80, new byte[0], true); // final empty continuation
      RawSocket.Frame answer = c.readData();
      assertTrue(answer.text().contains("\"pong\"") && answer.text().contains("\"f1\""), answer.text());
    }
  }

  @Test
  void unmaskedFrameIsAProtocolError() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w2")) {
      c.send(0x81, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8), false);
      RawSocket.Frame close = c.readData();
      assertEquals(0x8, close.opcode());
      assertEquals(1002, close.closeCode());
    }
  }

  @Test
  void reservedBitsAreAProtocolError() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w3")) {
      c.send(0x80 | 0x40 | 0x1, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8), true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void continuationWithoutAMessageIsAProtocolError() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w4")) {
      c.send(0x80, "x".getBytes(StandardCharsets.UTF_8), true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void textThatIsNotUtf8IsClosedWith1007() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w5")) {
      c.send(0x81, new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'}, true);
      assertEquals(1007, c.readData().closeCode());
    }
  }

  @Test
  void oversizedControlFrameIsAProtocolError() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w6")) {
      c.send(0x89, new byte[126], true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void clientCloseIsEchoedAndTheConnectionEnds() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w7")) {
      c.send(0x88, new byte[] {0x0F, (byte) 0xA0, 'b', 'y', 'e'}, true); // 4000 "bye"
      RawSocket.Frame close = c.readData();
      assertEquals(0x8, close.opcode());
      assertEquals(4000, close.closeCode());
      assertTrue(c.tcpClosed());
    }
  }

  @Test
  void closeWithAReservedCodeIsAnsweredWith1002() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w8")) {
      c.send(0x88, new byte[] {0x03, (byte) 0xED}, true); // 1005 may not be sent
      assertEquals(1002, c.readData().closeCode());
    }
  }

  /**
   * Each message is counted by the connection actor as it handles it (lms_frames_in). What happens
   * to them next is the rooms' business (a room refuses a publish from a connection it has already
   * seen die), so the count is what shows that none was dropped at the socket. Over loopback the
   * FIN usually comes in a later read than the messages; the case where it comes in the same read
   * (SocketStage's onUpstreamFinish) is not forced here.
   */
  @Test
  void messagesSentJustBeforeTheTcpCloseAreStillHandedOn() throws Exception {
    try (RawSocket sender = new RawSocket(NODE.get().port, "w10")) {
      double before = framesIn();
      for (int i = 1; i <= 3; i++) {
        sender.text("{\"type\":\"ping\",\"id\":\"b" + i + "\"}", true);
      }
      sender.send(0x88, new byte[] {0x03, (byte) 0xE8}, true); // close 1000, then the TCP FIN at once
      sender.socket.shutdownOutput();
      double handed = Eventually.within(Duration.ofSeconds(5), Duration.ofMillis(20), () -> framesIn() - before, n -> n >= 3);
      assertEquals(3.0, handed, "every message sent before the close reached the connection");
    }
  }

  private static double framesIn() {
    Double value = Scrape.find(NODE.get().node.context().metrics().scrape(), "lms_frames_in_total");
    if (value == null) {
      throw new AssertionError("no lms_frames_in_total in /metrics");
    }
    return value;
  }

  @Test
  void anIdleSocketGetsKeepAlivePings() throws IOException {
    try (RawSocket c = new RawSocket(NODE.get().port, "w9")) {
      RawSocket.Frame f = c.read(); // nothing else is sent to this socket: a ping within about a second
      assertEquals(0x9, f.opcode());
      c.send(0x8A, new byte[0], true); // the pong is taken silently
      c.text("{\"type\":\"ping\",\"id\":\"k\"}", true);
      assertTrue(c.readData().text().contains("\"k\""));
    }
  }
}

package lms.realtime.connection;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RFC 6455 at the byte level, through a raw TCP socket: what a browser's WebSocket never sends
 * (unmasked frames, reserved bits, broken UTF-8, fragments with control frames between them) and
 * what the engine's own socket stage must answer.
 */
class WireTest {
  static TestNode node;

  @BeforeAll
  static void start() {
    node = TestNode.start(Map.of("lms.keep-alive-idle", "1s"));
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  /** A frame as the server sent it. */
  record Frame(boolean fin, int opcode, byte[] payload) {
    String text() {
      return new String(payload, StandardCharsets.UTF_8);
    }

    int closeCode() {
      return ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF);
    }
  }

  /** A hand-driven client: frames are written exactly as given. */
  static final class Raw implements AutoCloseable {
    final Socket socket;
    final DataInputStream in;
    final OutputStream out;

    Raw(String user) throws IOException {
      socket = new Socket("127.0.0.1", node.port);
      socket.setSoTimeout(5000);
      in = new DataInputStream(socket.getInputStream());
      out = socket.getOutputStream();
      byte[] nonce = new byte[16];
      ThreadLocalRandom.current().nextBytes(nonce);
      String key = Base64.getEncoder().encodeToString(nonce);
      out.write(("GET /ws?token=" + Tokens.student(user, "7") + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
          + "Connection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      String head = readHead();
      assertTrue(head.startsWith("HTTP/1.1 101"), head);
      // header names are case-insensitive (Netty writes them in lower case)
      assertTrue(head.toLowerCase(java.util.Locale.ROOT).contains("sec-websocket-accept: " + lms.realtime.session.Handshake.accept(key).toLowerCase(java.util.Locale.ROOT)), head);
      Frame welcome = read();
      assertTrue(welcome.text().contains("\"welcome\""), welcome.text());
    }

    private String readHead() throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      while (!b.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
        b.write(in.readUnsignedByte());
      }
      return b.toString(StandardCharsets.US_ASCII);
    }

    void send(int b0, byte[] payload, boolean masked) throws IOException {
      ByteArrayOutputStream f = new ByteArrayOutputStream();
      f.write(b0);
      int n = payload.length;
      int maskBit = masked ? 0x80 : 0;
      if (n < 126) {
        f.write(maskBit | n);
      } else {
        f.write(maskBit | 126);
        f.write(n >> 8);
        f.write(n);
      }
      byte[] mask = {0x11, 0x22, 0x33, 0x44};
      if (masked) {
        f.write(mask);
      }
      for (int i = 0; i < n; i++) {
        f.write(masked ? payload[i] ^ mask[i & 3] : payload[i]);
      }
      out.write(f.toByteArray());
      out.flush();
    }

    void text(String s, boolean fin) throws IOException {
      send((fin ? 0x80 : 0) | 0x1, s.getBytes(StandardCharsets.UTF_8), true);
    }

    Frame read() throws IOException {
      int b0 = in.readUnsignedByte();
      int b1 = in.readUnsignedByte();
      assertEquals(0, b1 & 0x80, "server frames are never masked");
      long n = b1 & 0x7F;
      if (n == 126) {
        n = in.readUnsignedShort();
      } else if (n == 127) {
        n = in.readLong();
      }
      byte[] payload = new byte[(int) n];
      in.readFully(payload);
      return new Frame((b0 & 0x80) != 0, b0 & 0x0F, payload);
    }

    /** The next frame that is not a keep-alive ping. */
    Frame readData() throws IOException {
      Frame f = read();
      while (f.opcode() == 0x9) {
        f = read();
      }
      return f;
    }

    /** True when the server closed the TCP connection (end of stream). */
    boolean tcpClosed() throws IOException {
      try {
        while (true) {
          if (in.read() < 0) {
            return true;
          }
        }
      } catch (SocketTimeoutException e) {
        return false;
      } catch (IOException e) {
        return true;
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  @Test
  void fragmentedMessageWithPingBetweenIsOneMessageAndThePingIsAnswered() throws IOException {
    try (Raw c = new Raw("w1")) {
      c.text("{\"type\":\"pi", false);
      c.send(0x89, "hi".getBytes(StandardCharsets.US_ASCII), true); // ping between the fragments
      Frame pong = c.read();
      assertEquals(0xA, pong.opcode());
      assertArrayEquals("hi".getBytes(StandardCharsets.US_ASCII), pong.payload());
      c.send(0x00, "ng\",\"id\":\"f1\"}".getBytes(StandardCharsets.UTF_8), true); // continuation, not final
      c.send(0x80, new byte[0], true); // final empty continuation
      Frame answer = c.readData();
      assertTrue(answer.text().contains("\"pong\"") && answer.text().contains("\"f1\""), answer.text());
    }
  }

  @Test
  void unmaskedFrameIsAProtocolError() throws IOException {
    try (Raw c = new Raw("w2")) {
      c.send(0x81, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8), false);
      Frame close = c.readData();
      assertEquals(0x8, close.opcode());
      assertEquals(1002, close.closeCode());
    }
  }

  @Test
  void reservedBitsAreAProtocolError() throws IOException {
    try (Raw c = new Raw("w3")) {
      c.send(0x80 | 0x40 | 0x1, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8), true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void continuationWithoutAMessageIsAProtocolError() throws IOException {
    try (Raw c = new Raw("w4")) {
      c.send(0x80, "x".getBytes(StandardCharsets.UTF_8), true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void textThatIsNotUtf8IsClosedWith1007() throws IOException {
    try (Raw c = new Raw("w5")) {
      c.send(0x81, new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'}, true);
      assertEquals(1007, c.readData().closeCode());
    }
  }

  @Test
  void oversizedControlFrameIsAProtocolError() throws IOException {
    try (Raw c = new Raw("w6")) {
      c.send(0x89, new byte[126], true);
      assertEquals(1002, c.readData().closeCode());
    }
  }

  @Test
  void clientCloseIsEchoedAndTheConnectionEnds() throws IOException {
    try (Raw c = new Raw("w7")) {
      c.send(0x88, new byte[] {0x0F, (byte) 0xA0, 'b', 'y', 'e'}, true); // 4000 "bye"
      Frame close = c.readData();
      assertEquals(0x8, close.opcode());
      assertEquals(4000, close.closeCode());
      assertTrue(c.tcpClosed());
    }
  }

  @Test
  void closeWithAReservedCodeIsAnsweredWith1002() throws IOException {
    try (Raw c = new Raw("w8")) {
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
    try (Raw sender = new Raw("w10")) {
      double before = framesIn();
      for (int i = 1; i <= 3; i++) {
        sender.text("{\"type\":\"ping\",\"id\":\"b" + i + "\"}", true);
      }
      sender.send(0x88, new byte[] {0x03, (byte) 0xE8}, true); // close 1000, then the TCP FIN at once
      sender.socket.shutdownOutput();
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (framesIn() - before < 3 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(3.0, framesIn() - before, "every message sent before the close reached the connection");
    }
  }

  private static double framesIn() {
    for (String line : node.node.context().metrics().scrape().split("\n")) {
      if (line.startsWith("lms_frames_in_total ")) {
        return Double.parseDouble(line.substring("lms_frames_in_total ".length()).trim());
      }
    }
    throw new AssertionError("no lms_frames_in_total in /metrics");
  }

  @Test
  void anIdleSocketGetsKeepAlivePings() throws IOException {
    try (Raw c = new Raw("w9")) {
      Frame f = c.read(); // nothing else is sent to this socket: a ping within about a second
      assertEquals(0x9, f.opcode());
      c.send(0x8A, new byte[0], true); // the pong is taken silently
      c.text("{\"type\":\"ping\",\"id\":\"k\"}", true);
      assertTrue(c.readData().text().contains("\"k\""));
    }
  }
}

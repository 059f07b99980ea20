package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import lms.realtime.session.Handshake;
import lms.realtime.testkit.RawHttp;
import lms.realtime.testkit.Tokens;

/** A hand-driven WebSocket client on a raw TCP socket: frames are written exactly as given. */
final class RawSocket implements AutoCloseable {
  /** A frame as the server sent it. */
  record Frame(boolean fin, int opcode, byte[] payload) {
  String text() {
    return new String(payload, StandardCharsets.UTF_8);
  }

  int closeCode() {
    return ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF);
  }
  }


  final Socket socket;
  final DataInputStream in;
  final OutputStream out;

  RawSocket(int port, String user) throws IOException {
    this(port, user, 0);
  }

  /** With {@code receiveBuffer} > 0, the kernel's receive buffer (the TCP window the server sees) is that small. */
  RawSocket(int port, String user, int receiveBuffer) throws IOException {
    socket = new Socket();
    if (receiveBuffer > 0) {
      socket.setReceiveBufferSize(receiveBuffer); // before connect, so the window scale agrees
    }
    socket.connect(new InetSocketAddress("127.0.0.1", port));
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
    assertTrue(head.toLowerCase(Locale.ROOT).contains("sec-websocket-accept: " + Handshake.accept(key).toLowerCase(Locale.ROOT)), head);
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

  /** True when the server closed the TCP connection (end of stream) within the socket's read timeout. */
  boolean tcpClosed() throws IOException {
    return RawHttp.closedWithin(socket, Duration.ofMillis(socket.getSoTimeout()));
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}

package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import lms.realtime.testkit.NodePerClass;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A WebSocket conformance run over the edge cases of RFC 6455, in the spirit of the Autobahn
 * testsuite's sections 1-7 (Autobahn itself is a Python tool this box cannot install): fragments with
 * control frames between them, UTF-8 split across fragments, reserved bits and opcodes, size bounds,
 * and every kind of close code. Each case is driven byte by byte from a raw TCP socket, on whichever
 * transport the run is on (the pom runs this class on both), and asserts the engine's answer: the
 * close code it sends, or the message it answers.
 */
@Tag("socket")
class ConformanceTest {
  static final int MAX = 4096;
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass(Map.of("lms.limits.max-frame-bytes", MAX, "lms.keep-alive-idle", "0s"));

  interface Case {
    void run(RawSocket c) throws IOException;
  }

  static final int FIN = 0x80;
  static final int TEXT = 0x1;
  static final int BINARY = 0x2;
  static final int CONTINUATION = 0x0;
  static final int CLOSE = 0x8;
  static final int PING = 0x9;
  static final int PONG = 0xA;

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }

  static byte[] closePayload(int code, byte[] reason) {
    return concat(new byte[] {(byte) (code >> 8), (byte) code}, reason);
  }

  /** The engine closes with {@code code}; after broken framing or encoding it also ends TCP. */
  static void closedWith(RawSocket c, int code) throws IOException {
    RawSocket.Frame f = c.readData();
    assertEquals(CLOSE, f.opcode(), "a close frame, got opcode " + f.opcode() + ": " + f.text());
    assertEquals(code, f.closeCode());
    if (code == 1002 || code == 1007) {
      assertTrue(c.tcpClosed(), "TCP ends once the close frame is out");
    } else {
      c.send(FIN | CLOSE, closePayload(1000, new byte[0]), true);
      assertTrue(c.tcpClosed(), "TCP ends after the close handshake");
    }
  }

  /** The socket still answers: a ping frame gets its pong. */
  static void stillOpen(RawSocket c, String id) throws IOException {
    c.send(FIN | TEXT, utf8("{\"type\":\"ping\",\"id\":\"" + id + "\"}"), true);
    String answer = c.readData().text();
    assertTrue(answer.contains("\"pong\"") && answer.contains(id), answer);
  }

  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    cases.add(Arguments.of("1 fragments with a ping and a pong between them are one message", (Case) c -> {
      c.send(TEXT, utf8("{\"type\":"), true);
      c.send(FIN | PING, utf8("p1"), true);
      RawSocket.Frame pong = c.read();
      assertEquals(PONG, pong.opcode());
      assertArrayEquals(utf8("p1"), pong.payload());
      c.send(CONTINUATION, utf8("\"ping\","), true);
      c.send(FIN | PONG, utf8("unsolicited"), true);
      c.send(FIN | CONTINUATION, utf8("\"id\":\"frag\"}"), true);
      String answer = c.readData().text();
      assertTrue(answer.contains("\"pong\"") && answer.contains("frag"), answer);
    }));
    cases.add(Arguments.of("2 a four-byte character split across three fragments is valid", (Case) c -> {
      byte[] all = utf8("{\"type\":\"ping\",\"id\":\"\uD83C\uDF93\"}");
      int at = new String(all, StandardCharsets.UTF_8).indexOf('\uD83C');
      int cut = utf8(new String(all, StandardCharsets.UTF_8).substring(0, at)).length + 1; // inside the character
      c.send(TEXT, Arrays.copyOfRange(all, 0, cut), true);
      c.send(CONTINUATION, Arrays.copyOfRange(all, cut, cut + 2), true);
      c.send(FIN | CONTINUATION, Arrays.copyOfRange(all, cut + 2, all.length), true);
      String answer = c.readData().text();
      assertTrue(answer.contains("\uD83C\uDF93"), answer);
    }));
    cases.add(Arguments.of("3 bad UTF-8 split across fragments is 1007", (Case) c -> {
      c.send(TEXT, concat(utf8("{\"type\":\"ping\",\"id\":\""), new byte[] {(byte) 0xF0, (byte) 0x9F}), true);
      c.send(FIN | CONTINUATION, concat(new byte[] {0x28}, utf8("\"}")), true);
      closedWith(c, 1007);
    }));
    cases.add(Arguments.of("4 a message that ends inside a character is 1007", (Case) c -> {
      c.send(TEXT, utf8("{\"type\":\"ping\"}"), true);
      c.send(FIN | CONTINUATION, new byte[] {(byte) 0xE2, (byte) 0x82}, true);
      closedWith(c, 1007);
    }));
    cases.add(Arguments.of("5 an overlong encoding is 1007", (Case) c -> {
      c.send(FIN | TEXT, new byte[] {'"', (byte) 0xC0, (byte) 0xAF, '"'}, true);
      closedWith(c, 1007);
    }));
    for (int rsv : new int[] {0x40, 0x20, 0x10}) {
      cases.add(Arguments.of("6 RSV bit 0x" + Integer.toHexString(rsv) + " on a text frame is 1002", (Case) c -> {
        c.send(FIN | rsv | TEXT, utf8("{\"type\":\"ping\"}"), true);
        closedWith(c, 1002);
      }));
    }
    cases.add(Arguments.of("7 an RSV bit on a ping is 1002", (Case) c -> {
      c.send(FIN | 0x40 | PING, utf8("x"), true);
      closedWith(c, 1002);
    }));
    for (int op = 0x3; op <= 0x7; op++) {
      int opcode = op;
      cases.add(Arguments.of("8 reserved data opcode 0x" + Integer.toHexString(op) + " is 1002", (Case) c -> {
        c.send(FIN | opcode, utf8("x"), true);
        closedWith(c, 1002);
      }));
    }
    for (int op = 0xB; op <= 0xF; op++) {
      int opcode = op;
      cases.add(Arguments.of("9 reserved control opcode 0x" + Integer.toHexString(op) + " is 1002", (Case) c -> {
        c.send(FIN | opcode, utf8("x"), true);
        closedWith(c, 1002);
      }));
    }
    cases.add(Arguments.of("10 a fragmented ping is 1002", (Case) c -> {
      c.send(PING, utf8("x"), true);
      closedWith(c, 1002);
    }));
    cases.add(Arguments.of("11 a continuation without a message is 1002", (Case) c -> {
      c.send(FIN | CONTINUATION, utf8("x"), true);
      closedWith(c, 1002);
    }));
    cases.add(Arguments.of("12 a new message inside a fragmented one is 1002", (Case) c -> {
      c.send(TEXT, utf8("{\"type\":"), true);
      c.send(FIN | TEXT, utf8("{\"type\":\"ping\"}"), true);
      closedWith(c, 1002);
    }));
    for (int code : new int[] {1000, 1001, 1003, 1007, 1011, 3000, 4999}) {
      cases.add(Arguments.of("13 close code " + code + " is echoed", (Case) c -> {
        c.send(FIN | CLOSE, closePayload(code, utf8("ok")), true);
        RawSocket.Frame f = c.readData();
        assertEquals(CLOSE, f.opcode());
        assertEquals(code, f.closeCode());
        assertTrue(c.tcpClosed());
      }));
    }
    for (int code : new int[] {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
      cases.add(Arguments.of("14 close code " + code + " may not be sent: 1002", (Case) c -> {
        c.send(FIN | CLOSE, closePayload(code, new byte[0]), true);
        closedWith(c, 1002);
      }));
    }
    cases.add(Arguments.of("15 a close with a one-byte payload is 1002", (Case) c -> {
      c.send(FIN | CLOSE, new byte[] {0x03}, true);
      closedWith(c, 1002);
    }));
    cases.add(Arguments.of("16 a close reason that is not UTF-8 is 1007", (Case) c -> {
      c.send(FIN | CLOSE, closePayload(1000, new byte[] {(byte) 0xC3, 0x28}), true);
      closedWith(c, 1007);
    }));
    cases.add(Arguments.of("17 a close with a 123-byte reason is echoed", (Case) c -> {
      c.send(FIN | CLOSE, closePayload(1000, utf8("r".repeat(123))), true);
      RawSocket.Frame f = c.readData();
      assertEquals(1000, f.closeCode());
      assertTrue(c.tcpClosed());
    }));
    cases.add(Arguments.of("18 an empty close is answered with an empty close", (Case) c -> {
      c.send(FIN | CLOSE, new byte[0], true);
      RawSocket.Frame f = c.readData();
      assertEquals(CLOSE, f.opcode());
      assertEquals(0, f.payload().length);
      assertTrue(c.tcpClosed());
    }));
    cases.add(Arguments.of("19 a ping of 125 bytes gets its payload back", (Case) c -> {
      byte[] payload = new byte[125];
      Arrays.fill(payload, (byte) 0xFE);
      c.send(FIN | PING, payload, true);
      RawSocket.Frame pong = c.read();
      assertEquals(PONG, pong.opcode());
      assertArrayEquals(payload, pong.payload());
      stillOpen(c, "after-ping");
    }));
    cases.add(Arguments.of("20 an unsolicited pong is ignored", (Case) c -> {
      c.send(FIN | PONG, utf8("x"), true);
      stillOpen(c, "after-pong");
    }));
    cases.add(Arguments.of("21 a binary message is 1003", (Case) c -> {
      c.send(FIN | BINARY, new byte[] {1, 2, 3}, true);
      closedWith(c, 1003);
    }));
    cases.add(Arguments.of("22 one frame over the bound is 1009", (Case) c -> {
      c.send(FIN | TEXT, new byte[MAX + 1], true);
      closedWith(c, 1009);
    }));
    cases.add(Arguments.of("23 fragments that add up past the bound are 1009", (Case) c -> {
      byte[] part = utf8("a".repeat(MAX / 2));
      c.send(TEXT, part, true);
      c.send(CONTINUATION, part, true);
      c.send(FIN | CONTINUATION, part, true);
      closedWith(c, 1009);
    }));
    cases.add(Arguments.of("24 an empty text message is bad_request and the socket stays", (Case) c -> {
      c.send(FIN | TEXT, new byte[0], true);
      String answer = c.readData().text();
      assertTrue(answer.contains("bad_request"), answer);
      stillOpen(c, "after-empty");
    }));
    return cases.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void rfc6455(String name, Case c) throws IOException {
    try (RawSocket socket = new RawSocket(NODE.get().port, "conf-" + Integer.toHexString(name.hashCode()))) {
      c.run(socket);
    }
  }
}

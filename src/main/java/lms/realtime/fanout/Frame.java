package lms.realtime.fanout;

import java.nio.charset.StandardCharsets;

/**
 * One server frame as wire bytes (RFC 6455 §5.2, server side: never masked), rendered once and
 * shared by every socket it goes to, on either transport: a room's event is rendered once per node,
 * not once per member.
 */
public final class Frame {
  private static final int FIN = 0x80;
  public static final int OP_TEXT = 0x1;
  public static final int OP_CLOSE = 0x8;
  public static final int OP_PING = 0x9;
  public static final int OP_PONG = 0xA;
  /** A close frame's payload: a two-byte code and at most 123 bytes of reason. */
  private static final int MAX_CLOSE_REASON = 123;

  private final byte[] wire;

  private Frame(byte[] wire) {
    this.wire = wire;
  }

  /** A complete text frame. */
  public static Frame text(String text) {
    return new Frame(render(OP_TEXT, text.getBytes(StandardCharsets.UTF_8), -1));
  }

  /** A close frame with this code and reason (cut to 123 bytes, on a character boundary). */
  public static Frame close(int code, String reason) {
    byte[] text = reason == null ? new byte[0] : reason.getBytes(StandardCharsets.UTF_8);
    int n = Math.min(text.length, MAX_CLOSE_REASON);
    while (n < text.length && n > 0 && (text[n] & 0xC0) == 0x80) {
      n--; // do not cut a character in two
    }
    byte[] payload = new byte[2 + n];
    payload[0] = (byte) (code >> 8);
    payload[1] = (byte) code;
    System.arraycopy(text, 0, payload, 2, n);
    return new Frame(render(OP_CLOSE, payload, -1));
  }

  /** A control frame (close without a code, ping, pong) with the first {@code length} bytes of {@code payload}. */
  public static Frame control(int opcode, byte[] payload, int length) {
    return new Frame(render(opcode, payload, length));
  }

  /** The frame's bytes, header and payload; shared, never to be changed. */
  public byte[] wire() {
    return wire;
  }

  public int size() {
    return wire.length;
  }

  /** One unfragmented frame: header and payload in one array. */
  private static byte[] render(int opcode, byte[] payload, int length) {
    int n = length < 0 ? payload.length : length;
    int header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    byte[] bytes = new byte[header + n];
    bytes[0] = (byte) (FIN | opcode);
    if (n < 126) {
      bytes[1] = (byte) n;
    } else if (n <= 0xFFFF) {
      bytes[1] = 126;
      bytes[2] = (byte) (n >> 8);
      bytes[3] = (byte) n;
    } else {
      bytes[1] = 127;
      for (int i = 0; i < 8; i++) {
        bytes[2 + i] = (byte) ((long) n >> (56 - 8 * i));
      }
    }
    System.arraycopy(payload, 0, bytes, header, n);
    return bytes;
  }
}

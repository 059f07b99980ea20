package lms.realtime.fanout;

import java.nio.charset.StandardCharsets;
import lms.realtime.protocol.ServerFrames;

/**
 * One server frame as wire bytes (RFC 6455 §5.2, server side: never masked), rendered once and
 * shared by every socket it goes to, on either transport: a room's event is rendered once per node,
 * not once per member. Its HTTP fallback form ({@link #sse}: one Server-Sent Event, contract §10)
 * is rendered on first use, once, and shared the same way by every stream and poll it goes to.
 */
public final class Frame {
  private static final int FIN = 0x80;
  public static final int OP_TEXT = 0x1;
  public static final int OP_CLOSE = 0x8;
  public static final int OP_PING = 0x9;
  public static final int OP_PONG = 0xA;
  /** A close frame's payload: a two-byte code and at most 123 bytes of reason. */
  private static final int MAX_CLOSE_REASON = 123;

  private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] END = "\n\n".getBytes(StandardCharsets.US_ASCII);

  private final byte[] wire;
  /** {@code data: <json>\n\n}; null until a fallback connection needs it (a close frame has it from the start). */
  private volatile byte[] sse;

  private Frame(byte[] wire) {
    this.wire = wire;
  }

  private Frame(byte[] wire, byte[] sse) {
    this.wire = wire;
    this.sse = sse;
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
    // on the fallback the whole reason fits: it is an event's JSON, not a control frame
    return new Frame(render(OP_CLOSE, payload, -1), event(ServerFrames.close(code, reason).getBytes(StandardCharsets.UTF_8)));
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

  /**
   * The frame as one Server-Sent Event, {@code data: <json>\n\n}: a text frame's JSON, or for a
   * close frame the fallback's {@code {"type":"close","code":N,"reason":"..."}}. Rendered by the first
   * caller and shared, never to be changed. Control frames other than close have no such form.
   */
  public byte[] sse() {
    byte[] rendered = sse;
    if (rendered == null) {
      int header = headerLength(wire);
      byte[] json = new byte[wire.length - header];
      System.arraycopy(wire, header, json, 0, json.length);
      sse = rendered = event(json);
    }
    return rendered;
  }

  /** Where the JSON starts in {@link #sse} (the rest of it is {@link #jsonLength} bytes and the blank line). */
  public static int jsonOffset() {
    return DATA.length;
  }

  public int jsonLength() {
    return sse().length - DATA.length - END.length;
  }

  /**
   * One event whose data is {@code json} on one line. The engine's JSON is compact; a line break in
   * it could only be whitespace between tokens (JSON escapes them inside strings), so it is made a
   * space: an event's data ends at a line break.
   */
  private static byte[] event(byte[] json) {
    byte[] out = new byte[DATA.length + json.length + END.length];
    System.arraycopy(DATA, 0, out, 0, DATA.length);
    for (int i = 0; i < json.length; i++) {
      byte b = json[i];
      out[DATA.length + i] = b == '\n' || b == '\r' ? (byte) ' ' : b;
    }
    System.arraycopy(END, 0, out, DATA.length + json.length, END.length);
    return out;
  }

  private static int headerLength(byte[] wire) {
    int length = wire[1] & 0x7F;
    return length < 126 ? 2 : length == 126 ? 4 : 10;
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

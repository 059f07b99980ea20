package lms.realtime.transport.pekkohttp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pekko-http transport's frame reader on its own: what it reports for a client's bytes, the same
 * whether they come whole, byte by byte or in chunks of any size.
 */
class FrameReaderTest {
  private static final int TEXT = 0x1;
  private static final int BINARY = 0x2;
  private static final int CONTINUATION = 0x0;
  private static final int CLOSE = 0x8;
  private static final int PING = 0x9;
  private static final int PONG = 0xA;
  private static final int[] CHUNKS = {1, 2, 3, 5, 13, 64, Integer.MAX_VALUE};

  @Test
  void aTextMessageReadsTheSameWholeOrByteByByte() {
    assertEvents(1024, List.of("TEXT:héllo {\"type\":\"ping\"}"), frame(true, TEXT, "héllo {\"type\":\"ping\"}"));
  }

  @Test
  void fragmentsAreJoinedWithControlFramesBetweenThem() {
    assertEvents(1024, List.of("PING:x", "TEXT:abcdef"),
        frame(false, TEXT, "ab"), frame(true, PING, "x"), frame(false, CONTINUATION, "cd"),
        frame(true, PONG, ""), frame(true, CONTINUATION, "ef"));
  }

  @Test
  void extendedLengthsOfSixteenAndSixtyFourBits() {
    String medium = "m".repeat(300);
    String large = "L".repeat(70_000);
    assertEvents(100_000, List.of("TEXT:" + medium, "TEXT:" + large), frame(true, TEXT, medium), frame(true, TEXT, large));
  }

  @Test
  void emptyMessagesAndFramesAreRead() {
    assertEvents(1024, List.of("TEXT:", "PING:", "TEXT:z"),
        frame(true, TEXT, ""), frame(true, PING, ""), frame(false, TEXT, ""), frame(true, CONTINUATION, "z"));
  }

  @Test
  void aMessageOverTheBoundIsReportedAtTheHeaderThatPassesItAndSkipped() {
    assertEvents(10, List.of("TOO_LARGE", "TEXT:ok"), frame(true, TEXT, "eleven byte"), frame(true, TEXT, "ok"));
    assertEvents(10, List.of("TOO_LARGE", "TEXT:fits"),
        frame(false, TEXT, "sixsix"), frame(true, CONTINUATION, "sixsix"), frame(true, TEXT, "fits"));
  }

  @Test
  void aBinaryMessageIsReportedAtItsFirstFrameAndSkipped() {
    assertEvents(1024, List.of("BINARY", "TEXT:after"),
        frame(false, BINARY, "bin"), frame(true, CONTINUATION, "ary"), frame(true, TEXT, "after"));
  }

  @Test
  void brokenFramingIsAProtocolErrorAndNothingAfterItIsRead() {
    byte[] unmasked = {(byte) 0x81, 0x02, 'h', 'i'};
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 client frames must be masked"), unmasked, frame(true, TEXT, "lost"));
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 continuation without a message"), frame(true, CONTINUATION, "x"));
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 new message inside a fragmented one"),
        frame(false, TEXT, "a"), frame(true, TEXT, "b"));
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 bad control frame"), frame(false, PING, "x"));
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 unknown opcode 3"), frame(true, 0x3, "x"));
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 unknown opcode 11"), frame(true, 0xB, "x"));
    byte[] reserved = frame(true, TEXT, "x");
    reserved[0] |= 0x40;
    assertEvents(1024, List.of("PROTOCOL_ERROR:1002 reserved bits set"), reserved, frame(true, TEXT, "lost"));
  }

  @Test
  void textThatIsNotUtf8Is1007() {
    assertEvents(1024, List.of("PROTOCOL_ERROR:1007 text message is not UTF-8"),
        frame(true, TEXT, new byte[] {'a', (byte) 0xC3}), frame(true, TEXT, "lost"));
  }

  @Test
  void theClientsCloseIsAnsweredAndEndsTheReading() {
    assertEvents(1024, List.of("CLOSE:1000"), frame(true, CLOSE, closePayload(1000, "bye")), frame(true, TEXT, "lost"));
    assertEvents(1024, List.of("CLOSE:empty"), frame(true, CLOSE, ""));
    assertEvents(1024, List.of("CLOSE:1002"), frame(true, CLOSE, new byte[] {0x03}));
    assertEvents(1024, List.of("CLOSE:1002"), frame(true, CLOSE, closePayload(1005, "")));
    assertEvents(1024, List.of("CLOSE:1007"), frame(true, CLOSE, concat(closePayload(4000, ""), new byte[] {(byte) 0xFF})));
  }

  @Test
  void afterOurCloseDataIsDroppedAndControlFramesAreStillRead() {
    FrameReader reader = new FrameReader(1024);
    List<String> events = new ArrayList<>();
    feed(reader, frame(false, TEXT, "under way"), Integer.MAX_VALUE, events);
    reader.closing();
    feed(reader, concat(frame(true, CONTINUATION, "!"), frame(true, BINARY, "b"), frame(true, TEXT, "new"),
        frame(true, PING, "p"), frame(true, CLOSE, closePayload(1001, ""))), 1, events);
    assertEquals(List.of("PING:p", "CLOSE:1001"), events);
    assertEquals(FrameReader.State.CLOSED, reader.state());
  }

  // ---------------------------------------------------------------- helpers

  /** The same events for the frames whatever the chunks they come in. */
  private static void assertEvents(int maxMessageBytes, List<String> expected, byte[]... frames) {
    byte[] stream = concat(frames);
    for (int chunk : CHUNKS) {
      FrameReader reader = new FrameReader(maxMessageBytes);
      List<String> events = new ArrayList<>();
      feed(reader, stream, chunk, events);
      assertEquals(expected, events, "in chunks of " + chunk);
    }
  }

  private static void feed(FrameReader reader, byte[] stream, int chunk, List<String> events) {
    for (int at = 0; at < stream.length; at += chunk) {
      ByteBuffer in = ByteBuffer.wrap(stream, at, Math.min(chunk, stream.length - at)).slice().asReadOnlyBuffer();
      FrameReader.Event event;
      while ((event = reader.read(in)) != FrameReader.Event.NEED_MORE) {
        events.add(describe(reader, event));
      }
      assertEquals(0, in.remaining(), "a chunk is read to its end");
    }
  }

  private static String describe(FrameReader reader, FrameReader.Event event) {
    return switch (event) {
      case TEXT -> "TEXT:" + reader.text();
      case PING -> "PING:" + new String(payload(reader.pong().wire()), StandardCharsets.UTF_8);
      case CLOSE -> {
        byte[] reply = payload(reader.closeReply().wire());
        yield "CLOSE:" + (reply.length == 0 ? "empty" : Integer.toString(((reply[0] & 0xFF) << 8) | (reply[1] & 0xFF)));
      }
      case PROTOCOL_ERROR -> "PROTOCOL_ERROR:" + reader.failureCode() + " " + reader.failureReason();
      default -> event.name();
    };
  }

  /** A server frame's payload (our replies are short: a two-byte header). */
  private static byte[] payload(byte[] wire) {
    return Arrays.copyOfRange(wire, 2, wire.length);
  }

  private static byte[] closePayload(int code, String reason) {
    return concat(new byte[] {(byte) (code >> 8), (byte) code}, reason.getBytes(StandardCharsets.UTF_8));
  }

  private static byte[] frame(boolean fin, int opcode, String payload) {
    return frame(fin, opcode, payload.getBytes(StandardCharsets.UTF_8));
  }

  /** A client frame, masked (RFC 6455 §5.2), with the shortest length encoding. */
  private static byte[] frame(boolean fin, int opcode, byte[] payload) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write((fin ? 0x80 : 0) | opcode);
    int n = payload.length;
    if (n < 126) {
      out.write(0x80 | n);
    } else if (n <= 0xFFFF) {
      out.write(0x80 | 126);
      out.write(n >> 8);
      out.write(n);
    } else {
      out.write(0x80 | 127);
      for (int i = 7; i >= 0; i--) {
        out.write((int) ((long) n >> (8 * i)));
      }
    }
    byte[] mask = {0x37, (byte) 0xFA, 0x21, 0x3D};
    out.writeBytes(mask);
    for (int i = 0; i < n; i++) {
      out.write(payload[i] ^ mask[i & 3]);
    }
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}

package lms.realtime.connection;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.List;
import org.apache.pekko.http.impl.engine.server.UpgradeToOtherProtocolResponseHeader;
import org.apache.pekko.http.impl.engine.ws.Handshake$;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.scaladsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * WebSocket frames on the wire (RFC 6455 §5.2, server side: never masked) and the 101 answer that
 * hands the connection's bytes to a {@link SocketStage}.
 *
 * <p>A server frame's bytes do not depend on who receives it, so a room's event is rendered here
 * once per node and the same {@link ByteString} goes into every member's queue.
 *
 * <p>The one place that reaches into pekko-http internals: {@code UpgradeToOtherProtocolResponseHeader}
 * is how pekko-http itself attaches a WebSocket to a connection (it is what
 * {@code WebSocketUpgrade.handleMessagesWith} builds, around its own multi-stage frame stack).
 * Giving it our single stage instead is what lets us close with our own codes (pekko-http closes
 * with 1000 or 1011 only, akka-http issue #2458) and costs one stage per socket instead of dozens.
 * Re-check on every pekko-http upgrade; the socket tests fail loudly if it breaks.
 */
public final class WebSocketStack {
  private static final byte[] ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11".getBytes(StandardCharsets.US_ASCII);
  static final int OP_CONTINUATION = 0x0;
  static final int OP_TEXT = 0x1;
  static final int OP_BINARY = 0x2;
  static final int OP_CLOSE = 0x8;
  static final int OP_PING = 0x9;
  static final int OP_PONG = 0xA;
  private static final int FIN = 0x80;
  /** A close frame's payload: a two-byte code and at most 123 bytes of reason. */
  private static final int MAX_CLOSE_REASON = 123;

  private WebSocketStack() {}

  /** A complete text frame, to be shared by every socket it goes to. */
  public static ByteString textFrame(String text) {
    return frame(OP_TEXT, text.getBytes(StandardCharsets.UTF_8), -1);
  }

  /** A close frame with this code and reason (cut to 123 bytes, on a character boundary). */
  static ByteString closeFrame(int code, String reason) {
    byte[] text = reason == null ? new byte[0] : reason.getBytes(StandardCharsets.UTF_8);
    int n = Math.min(text.length, MAX_CLOSE_REASON);
    while (n < text.length && n > 0 && (text[n] & 0xC0) == 0x80) {
      n--; // do not cut a character in two
    }
    byte[] payload = new byte[2 + n];
    payload[0] = (byte) (code >> 8);
    payload[1] = (byte) code;
    System.arraycopy(text, 0, payload, 2, n);
    return frame(OP_CLOSE, payload, -1);
  }

  /** A close frame without a code (the answer to a close that carried none). */
  static ByteString emptyCloseFrame() {
    return frame(OP_CLOSE, new byte[0], -1);
  }

  static ByteString controlFrame(int opcode, byte[] payload, int length) {
    return frame(opcode, payload, length);
  }

  /** One unfragmented frame: header and payload in one array. */
  private static ByteString frame(int opcode, byte[] payload, int length) {
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
    return ByteString.fromArrayUnsafe(bytes);
  }

  /**
   * The 101 answer to a request pekko-http has already checked to be a WebSocket upgrade (it carries
   * the {@code webSocketUpgrade} attribute); from then on the connection's bytes go through
   * {@code socket}.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static HttpResponse upgrade(HttpRequest request, Flow<ByteString, ByteString, ?> socket) {
    String key = request.getHeader("Sec-WebSocket-Key").map(HttpHeader::value).orElseThrow();
    List<HttpHeader> headers = List.of(
        Handshake$.MODULE$.UpgradeHeader(),
        Handshake$.MODULE$.ConnectionUpgradeHeader(),
        RawHeader.create("Sec-WebSocket-Accept", accept(key)),
        UpgradeToOtherProtocolResponseHeader.apply((Flow) socket));
    return HttpResponse.create().withStatus(StatusCodes.SWITCHING_PROTOCOLS).addHeaders(headers);
  }

  /** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
  static String accept(String key) {
    try {
      MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
      sha1.update(key.trim().getBytes(StandardCharsets.US_ASCII));
      sha1.update(ACCEPT_GUID);
      return Base64.getEncoder().encodeToString(sha1.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-1 in this JVM", e);
    }
  }
}

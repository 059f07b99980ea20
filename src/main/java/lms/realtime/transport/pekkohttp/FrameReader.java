package lms.realtime.transport.pekkohttp;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.StandardCharsets;
import lms.realtime.fanout.Frame;
import lms.realtime.protocol.CloseCodes;

/**
 * Reads one client's frames (RFC 6455 §5, server side) from bytes in chunks of any size: headers,
 * control frames (also between a message's fragments), the bound on a message's size ({@link
 * DataMessage} joins the fragments), UTF-8 of text messages and close reasons. Fed a buffer, it returns the next thing the socket must
 * act on ({@link Event}), whose data stays readable until the next call; a header cut between chunks
 * is kept here, so a chunk is always read to its end before {@link Event#NEED_MORE}. No I/O and no
 * threads: {@link SocketStage} feeds it from the stream and acts on what it reports.
 */
final class FrameReader {
  /** Where the reader is in the client's byte stream. */
  enum State {
    /** The first two bytes of a frame: FIN, reserved bits, opcode, the mask bit, the 7-bit length. */
    FRAME_START,
    /** The rest of the header: 0, 2 or 8 bytes of extended length, then the 4-byte masking key. */
    HEADER_REST,
    /** The frame's payload, unmasked as it comes. */
    PAYLOAD,
    /** The client's close came: nothing after it is read. */
    CLOSED,
    /** Broken framing or encoding: nothing more is read. */
    BROKEN
  }

  /** What one call to {@link #read} found. */
  enum Event {
    /** Every byte given is read; nothing to act on yet. */
    NEED_MORE,
    /** A whole text message, well-formed UTF-8: {@link #text}. */
    TEXT,
    /** The first frame of a binary message; the rest of the message is skipped. */
    BINARY,
    /** A text message goes over the bound, at the header that passes it; the rest is skipped. */
    TOO_LARGE,
    /** A ping: {@link #pong} answers it. */
    PING,
    /** The client's close: {@link #closeReply} answers it. */
    CLOSE,
    /** Broken framing (1002) or a text message that is not UTF-8 (1007): {@link #failureCode}, {@link #failureReason}. */
    PROTOCOL_ERROR
  }

  private static final int OP_CONTINUATION = 0x0;
  private static final int OP_BINARY = 0x2;
  private static final int MAX_CONTROL_PAYLOAD = 125;
  private static final Frame EMPTY_CLOSE = Frame.control(Frame.OP_CLOSE, new byte[0], 0);

  private State state = State.FRAME_START;
  private final byte[] header = new byte[2 + 8 + Mask.BYTES];
  private int headerLength;
  private int headerNeeded = 2;

  // --- the frame under way ---
  private boolean fin;
  private int opcode;
  private long remaining;
  private final Mask mask = new Mask();
  private final byte[] control = new byte[MAX_CONTROL_PAYLOAD];
  private int controlLength;
  /** The data message under way, across its fragments. */
  private final DataMessage message;

  // --- what the last event carries ---
  private String text;
  private Frame closeReply;
  private int failureCode;
  private String failureReason;
  private CharsetDecoder utf8;

  FrameReader(int maxMessageBytes) {
    this.message = new DataMessage(maxMessageBytes);
  }

  /**
   * Reads from {@code in} up to the next event; {@link Event#NEED_MORE} once {@code in} is used up.
   * Each state's step returns its event, or null to go on with the state it moved to.
   */
  Event read(ByteBuffer in) {
    while (true) {
      Event event = switch (state) {
        case FRAME_START -> frameStart(in);
        case HEADER_REST -> headerRest(in);
        case PAYLOAD -> payload(in);
        case CLOSED, BROKEN -> ignore(in);
      };
      if (event != null) {
        return event;
      }
    }
  }

  /**
   * Our close is out: data messages are dropped from now on, the one under way too, and none is
   * reported; control frames are still read (the client's close ends the handshake).
   */
  void closing() {
    message.closing();
  }

  State state() {
    return state;
  }

  /** Nothing more is read: the client's close came, or the framing broke. */
  boolean stopped() {
    return state == State.CLOSED || state == State.BROKEN;
  }

  /** After {@link Event#TEXT}. */
  String text() {
    return text;
  }

  /** After {@link Event#PING}: the pong that echoes its payload. */
  Frame pong() {
    return Frame.control(Frame.OP_PONG, control, controlLength);
  }

  /** After {@link Event#CLOSE}: the client's code echoed, or the close its broken close frame gets. */
  Frame closeReply() {
    return closeReply;
  }

  /** After {@link Event#PROTOCOL_ERROR}: the close code for it. */
  int failureCode() {
    return failureCode;
  }

  String failureReason() {
    return failureReason;
  }

  // ---------------------------------------------------------------- the states

  /** FRAME_START: an unmasked frame is refused at once; otherwise the header's length is known. */
  private Event frameStart(ByteBuffer in) {
    if (!fillHeader(in)) {
      return Event.NEED_MORE;
    }
    if ((header[1] & 0x80) == 0) {
      return fail(CloseCodes.PROTOCOL_ERROR, "client frames must be masked");
    }
    int len7 = header[1] & 0x7F;
    headerNeeded = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + Mask.BYTES;
    state = State.HEADER_REST;
    return null;
  }

  /** HEADER_REST: the whole header is in; the frame is checked and its payload begins. */
  private Event headerRest(ByteBuffer in) {
    if (!fillHeader(in)) {
      return Event.NEED_MORE;
    }
    long frameLength = payloadLength();
    mask.reset(header, headerNeeded - Mask.BYTES);
    headerLength = 0;
    headerNeeded = 2;
    fin = (header[0] & 0x80) != 0;
    opcode = header[0] & 0x0F;
    if ((header[0] & 0x70) != 0) {
      return fail(CloseCodes.PROTOCOL_ERROR, "reserved bits set");
    }
    if (frameLength < 0) {
      return fail(CloseCodes.PROTOCOL_ERROR, "bad frame length");
    }
    Event event = isControl() ? beginControl(frameLength) : beginData(frameLength);
    if (event != Event.PROTOCOL_ERROR) {
      remaining = frameLength;
      state = State.PAYLOAD;
    }
    return event;
  }

  /** PAYLOAD: takes what has come of it; at its end, the frame's event. */
  private Event payload(ByteBuffer in) {
    int n = (int) Math.min(remaining, in.remaining());
    if (n > 0) {
      take(in, n);
      remaining -= n;
    }
    if (remaining > 0) {
      return Event.NEED_MORE;
    }
    state = State.FRAME_START;
    return endOfFrame();
  }

  /** CLOSED, BROKEN: bytes are dropped as they come. */
  private static Event ignore(ByteBuffer in) {
    in.position(in.limit());
    return Event.NEED_MORE;
  }

  // ---------------------------------------------------------------- frames

  /** Moves header bytes out of {@code in}; true once all the header so far needs are here. */
  private boolean fillHeader(ByteBuffer in) {
    int n = Math.min(headerNeeded - headerLength, in.remaining());
    in.get(header, headerLength, n);
    headerLength += n;
    return headerLength == headerNeeded;
  }

  private long payloadLength() {
    int extended = headerNeeded - 2 - Mask.BYTES;
    if (extended == 0) {
      return header[1] & 0x7F;
    }
    long frameLength = 0;
    for (int i = 0; i < extended; i++) {
      frameLength = (frameLength << 8) | (header[2 + i] & 0xFF);
    }
    return frameLength;
  }

  private boolean isControl() {
    return (opcode & 0x8) != 0;
  }

  private Event beginControl(long frameLength) {
    if (opcode != Frame.OP_CLOSE && opcode != Frame.OP_PING && opcode != Frame.OP_PONG) {
      return fail(CloseCodes.PROTOCOL_ERROR, "unknown opcode " + opcode);
    }
    if (!fin || frameLength > MAX_CONTROL_PAYLOAD) {
      return fail(CloseCodes.PROTOCOL_ERROR, "bad control frame");
    }
    controlLength = 0;
    return null;
  }

  /** A data frame: a message's first or a continuation; the bound is checked at every header. */
  private Event beginData(long frameLength) {
    if (opcode == OP_CONTINUATION) {
      if (!message.underWay()) {
        return fail(CloseCodes.PROTOCOL_ERROR, "continuation without a message");
      }
    } else if (opcode == Frame.OP_TEXT || opcode == OP_BINARY) {
      if (message.underWay()) {
        return fail(CloseCodes.PROTOCOL_ERROR, "new message inside a fragmented one");
      }
      if (message.begin(opcode == OP_BINARY)) {
        return Event.BINARY;
      }
    } else {
      return fail(CloseCodes.PROTOCOL_ERROR, "unknown opcode " + opcode);
    }
    // over the bound: reported now, the bytes dropped as they come
    return message.passesBound(frameLength) ? Event.TOO_LARGE : null;
  }

  /** {@code n} payload bytes of the current frame, unmasked into where they belong (or dropped). */
  private void take(ByteBuffer in, int n) {
    if (isControl()) {
      mask.unmask(in, control, controlLength, n);
      controlLength += n;
    } else {
      message.append(in, n, mask);
    }
  }

  private Event endOfFrame() {
    switch (opcode) {
      case Frame.OP_PING:
        return Event.PING;
      case Frame.OP_PONG:
        return null; // an answer to our keep-alive: nothing to do
      case Frame.OP_CLOSE:
        state = State.CLOSED;
        closeReply = replyToClose();
        return Event.CLOSE;
      default:
        return fin ? endOfMessage() : null;
    }
  }

  private Event endOfMessage() {
    ByteBuffer kept = message.end();
    if (kept == null) {
      return null; // binary, over the bound, or after our close
    }
    String decoded = kept.hasRemaining() ? utf8(kept) : "";
    if (decoded == null) {
      return fail(CloseCodes.INVALID_PAYLOAD, "text message is not UTF-8");
    }
    text = decoded;
    return Event.TEXT;
  }

  // ---------------------------------------------------------------- close, failure, UTF-8

  /** RFC 6455 §5.5.1: the code echoed; §7.1.6 and §8.1: a reason that is not UTF-8 gets 1007. */
  private Frame replyToClose() {
    if (controlLength == 0) {
      return EMPTY_CLOSE;
    }
    int code = controlLength >= 2 ? ((control[0] & 0xFF) << 8) | (control[1] & 0xFF) : 0;
    boolean validReason = utf8(ByteBuffer.wrap(control, 2, Math.max(0, controlLength - 2))) != null;
    return controlLength < 2 || !validCloseCode(code) ? Frame.close(CloseCodes.PROTOCOL_ERROR, "bad close frame")
        : !validReason ? Frame.close(CloseCodes.INVALID_PAYLOAD, "close reason is not UTF-8")
        : Frame.close(code, "");
  }

  /** RFC 6455 §7.4: codes a peer may send. */
  private static boolean validCloseCode(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  }

  /** Broken framing or encoding: reported with this code; nothing more is read. */
  private Event fail(int code, String reason) {
    state = State.BROKEN;
    failureCode = code;
    failureReason = reason;
    return Event.PROTOCOL_ERROR;
  }

  /** The bytes as text, or null when they are not well-formed UTF-8. */
  private String utf8(ByteBuffer data) {
    if (utf8 == null) {
      utf8 = StandardCharsets.UTF_8.newDecoder(); // reports malformed input (a new decoder's default)
    }
    try {
      return utf8.reset().decode(data).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }
}

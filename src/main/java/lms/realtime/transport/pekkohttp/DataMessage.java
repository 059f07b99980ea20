package lms.realtime.transport.pekkohttp;

import java.nio.ByteBuffer;

/**
 * The data message a client is sending, as its fragments come (RFC 6455 §5.4): a text message's
 * unmasked bytes, kept up to the size bound, or a message whose bytes are dropped as they come
 * (binary, over the bound, or begun after our close). The message layer of {@link FrameReader}.
 */
final class DataMessage {
  private enum Kind {
    /** No data message is under way. */
    NONE,
    /** A text message whose bytes are kept. */
    TEXT,
    /** A message whose bytes are dropped. */
    SKIPPED
  }

  private static final byte[] EMPTY = new byte[0];

  private final int maxBytes;
  private Kind kind = Kind.NONE;
  private byte[] bytes;
  private int length;
  private boolean closing;

  DataMessage(int maxBytes) {
    this.maxBytes = maxBytes;
  }

  boolean underWay() {
    return kind != Kind.NONE;
  }

  /** A message's first frame; true for a binary message the socket must hear of (its bytes are dropped). */
  boolean begin(boolean binary) {
    kind = binary || closing ? Kind.SKIPPED : Kind.TEXT;
    bytes = null;
    length = 0;
    return binary && !closing;
  }

  /** A frame of {@code frameLength} more bytes; true when it takes a kept message over the bound (dropped from now on). */
  boolean passesBound(long frameLength) {
    if (kind != Kind.TEXT || length + frameLength <= maxBytes) {
      return false;
    }
    skip();
    return true;
  }

  /** {@code n} payload bytes of a frame of this message. */
  void append(ByteBuffer in, int n, Mask mask) {
    if (kind == Kind.SKIPPED) {
      mask.skip(in, n);
      return;
    }
    grow(n);
    mask.unmask(in, bytes, length, n);
    length += n;
  }

  /** The last fragment is in: a kept message's bytes, or null for a dropped one; ready for the next. */
  ByteBuffer end() {
    ByteBuffer kept = kind == Kind.TEXT ? ByteBuffer.wrap(bytes == null ? EMPTY : bytes, 0, length) : null;
    kind = Kind.NONE;
    bytes = null;
    length = 0;
    return kept;
  }

  /** Our close is out: the message under way and every later one are dropped. */
  void closing() {
    closing = true;
    if (kind == Kind.TEXT) {
      skip();
    }
  }

  private void skip() {
    kind = Kind.SKIPPED;
    bytes = null;
  }

  /** Room for {@code n} more bytes, sized by the bytes that came, not by the length the header declares (which may never come). */
  private void grow(int n) {
    if (bytes == null || bytes.length < length + n) {
      byte[] grown = new byte[(int) Math.min(maxBytes, Math.max(length + n, 2L * (bytes == null ? 0 : bytes.length)))];
      if (bytes != null) {
        System.arraycopy(bytes, 0, grown, 0, length);
      }
      bytes = grown;
    }
  }
}

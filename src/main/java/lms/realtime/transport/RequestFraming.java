package lms.realtime.transport;

import java.util.Locale;

/**
 * Where each request of an HTTP/1.1 connection begins and ends in its bytes, for the transports'
 * header timers (issue 22): a request's clock must start at its first byte wherever in a read that
 * byte falls, also when the read began with the end of the request before it (pipelining), and only
 * the bytes say where that is. RFC 9112 §6: the request line and header fields up to the empty
 * line, then a body of {@code Content-Length} bytes, or of chunks up to the last one and its trailer
 * section when {@code Transfer-Encoding} ends in {@code chunked} (which then wins over a length).
 *
 * <p>It only frames: Netty's or pekko-http's parser still reads and judges each request (and ends
 * the connection on a malformed one). Only a malformed or obsolete request (a folded header line)
 * can be framed otherwise here, and then at worst its connection is timed when it need not be. Any
 * byte between requests starts the next one, empty lines too: a connection cannot be held open by a
 * trickle of line ends. A small pure reader that a test can drive byte by byte.
 */
public final class RequestFraming {
  /** Told where requests begin and end, on the thread that reads. */
  public interface Listener {
    /** The first byte of a request has come. */
    void started();

    /** The last byte of a request has come: its body's, or its header section's when it has none. */
    void ended();
  }

  /** A run of bytes, read by index. */
  public interface Bytes {
    byte at(int index);
  }

  private enum State { BETWEEN, HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS }

  private static final String CONTENT_LENGTH = "content-length";
  private static final String TRANSFER_ENCODING = "transfer-encoding";
  /** Longer values of the two fields read here are malformed anyway (the parsers' header bound is 8 KiB). */
  private static final int MAX_FIELD_VALUE = 8 * 1024;
  /** A body length or chunk size past this is taken as this (no request comes near it). */
  private static final long HUGE = 1L << 60;

  private final Listener listener;
  private State state = State.BETWEEN;
  private long left;
  /** Bytes of the current line so far, without CR. */
  private int lineLength;
  private boolean requestLine;
  /** Matching the line's field name against the two read here; -1 once it is neither. */
  private int nameMatched;
  private boolean mayBeLength;
  private boolean mayBeEncoding;
  /** The value of a Content-Length or Transfer-Encoding line being read; null on other lines. */
  private StringBuilder value;
  private boolean valueIsLength;
  private long contentLength;
  private boolean chunked;
  private long chunkSize;
  private boolean chunkExtension;

  public RequestFraming(Listener listener) {
    this.listener = listener;
  }

  /** Reads {@code length} more bytes of the connection. */
  public void read(int length, Bytes bytes) {
    int i = 0;
    while (i < length) {
      if (state == State.BODY || state == State.CHUNK_DATA) {
        int skipped = (int) Math.min(left, length - i);
        i += skipped;
        left -= skipped;
        if (left == 0) {
          bodyRead();
        }
      } else {
        next(bytes.at(i++));
      }
    }
  }

  private void bodyRead() {
    if (state == State.BODY) {
      end();
    } else {
      state = State.CHUNK_END;
    }
  }

  private void next(byte b) {
    switch (state) {
      case BETWEEN -> {
        listener.started();
        state = State.HEAD;
        requestLine = true;
        newLine();
        head(b);
      }
      case HEAD -> head(b);
      case CHUNK_SIZE -> chunkSize(b);
      case CHUNK_END -> {
        if (b == '\n') {
          nextChunk();
        }
      }
      case TRAILERS -> {
        if (b == '\n') {
          if (lineLength == 0) {
            end();
          }
          lineLength = 0;
        } else if (b != '\r') {
          lineLength++;
        }
      }
      default -> throw new IllegalStateException(state.name());
    }
  }

  private void head(byte b) {
    if (b == '\n') {
      if (lineLength > 0) {
        fieldRead();
        requestLine = false;
      } else if (!requestLine) {
        headRead();
        return;
      } // empty lines before the request line are skipped (RFC 9112 §2.2)
      newLine();
    } else if (b != '\r') {
      lineLength++;
      if (!requestLine) {
        field(b);
      }
    }
  }

  private void newLine() {
    lineLength = 0;
    nameMatched = 0;
    mayBeLength = true;
    mayBeEncoding = true;
    value = null;
  }

  /** A byte of a field line: its name is matched until the colon, then a value of interest kept. */
  private void field(byte b) {
    if (value != null) {
      if (value.length() <= MAX_FIELD_VALUE) {
        value.append((char) (b & 0xFF));
      }
    } else if (nameMatched >= 0) {
      if (b == ':') {
        valueIsLength = mayBeLength && nameMatched == CONTENT_LENGTH.length();
        boolean encoding = mayBeEncoding && nameMatched == TRANSFER_ENCODING.length();
        nameMatched = -1;
        if (valueIsLength || encoding) {
          value = new StringBuilder();
        }
        return;
      }
      char c = Character.toLowerCase((char) (b & 0xFF));
      mayBeLength &= nameMatched < CONTENT_LENGTH.length() && CONTENT_LENGTH.charAt(nameMatched) == c;
      mayBeEncoding &= nameMatched < TRANSFER_ENCODING.length() && TRANSFER_ENCODING.charAt(nameMatched) == c;
      nameMatched = mayBeLength || mayBeEncoding ? nameMatched + 1 : -1;
    }
  }

  private void fieldRead() {
    if (value == null) {
      return;
    }
    String v = value.toString().trim();
    if (valueIsLength) {
      contentLength = length(v);
    } else {
      // the codings apply in order, so the last one says whether the body is chunked
      int comma = v.lastIndexOf(',');
      chunked = v.substring(comma + 1).trim().toLowerCase(Locale.ROOT).equals("chunked");
    }
  }

  /** A Content-Length value; a malformed one (the parser refuses it) as none. */
  private static long length(String v) {
    if (v.isEmpty() || v.length() > 18) {
      return v.isEmpty() ? 0 : HUGE;
    }
    long n = 0;
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c < '0' || c > '9') {
        return 0;
      }
      n = n * 10 + (c - '0');
    }
    return n;
  }

  private void headRead() {
    if (chunked) {
      nextChunk();
    } else if (contentLength > 0) {
      state = State.BODY;
      left = contentLength;
    } else {
      end();
    }
  }

  private void nextChunk() {
    state = State.CHUNK_SIZE;
    chunkSize = 0;
    chunkExtension = false;
  }

  private void chunkSize(byte b) {
    if (b == '\n') {
      if (chunkSize == 0) {
        state = State.TRAILERS;
        lineLength = 0;
      } else {
        state = State.CHUNK_DATA;
        left = chunkSize;
      }
      return;
    }
    int digit = Character.digit((char) (b & 0xFF), 16);
    if (digit < 0) {
      chunkExtension = true; // the size ends at ';' (an extension), CR or anything else
    } else if (!chunkExtension) {
      chunkSize = chunkSize >= HUGE / 16 ? HUGE : chunkSize * 16 + digit;
    }
  }

  private void end() {
    state = State.BETWEEN;
    contentLength = 0;
    chunked = false;
    listener.ended();
  }
}

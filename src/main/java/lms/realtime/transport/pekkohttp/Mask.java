package lms.realtime.transport.pekkohttp;

import java.nio.ByteBuffer;

/** A client frame's masking key (RFC 6455 §5.3), applied to the frame's payload as its bytes come. */
final class Mask {
  static final int BYTES = 4;

  private final byte[] key = new byte[BYTES];
  private int position;

  /** A new frame's key, at {@code offset} in its header. */
  void reset(byte[] header, int offset) {
    System.arraycopy(header, offset, key, 0, BYTES);
    position = 0;
  }

  /** Moves {@code n} payload bytes from {@code in} to {@code target} at {@code from}, unmasked. */
  void unmask(ByteBuffer in, byte[] target, int from, int n) {
    in.get(target, from, n);
    for (int i = 0; i < n; i++) {
      target[from + i] ^= key[(position++) & 3];
    }
  }

  /** Drops {@code n} payload bytes of {@code in}. */
  void skip(ByteBuffer in, int n) {
    in.position(in.position() + n);
    position += n;
  }
}

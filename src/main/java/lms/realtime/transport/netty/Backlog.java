package lms.realtime.transport.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.util.ArrayDeque;

/**
 * A connection's frames (their bytes, shared) that wait while its channel is not writable (the peer reads slowly: Netty's high
 * water mark is passed), bounded in frames ({@code lms.limits.outgoing-buffer}) and bytes
 * ({@code lms.limits.outgoing-bytes}); past either the socket is a slow reader. On the loop.
 */
final class Backlog {
  private final int maxFrames;
  private final long maxBytes;
  private final ArrayDeque<byte[]> frames = new ArrayDeque<>();
  private long bytes;

  Backlog(int maxFrames, long maxBytes) {
    this.maxFrames = maxFrames;
    this.maxBytes = maxBytes;
  }

  /** False when the frame would take the backlog past a bound (it is not taken). */
  boolean add(byte[] frame) {
    if (frames.size() >= maxFrames || bytes + frame.length > maxBytes) {
      return false;
    }
    frames.add(frame);
    bytes += frame.length;
    return true;
  }

  /** Writes frames, oldest first, while the channel takes them, without a flush; true when any went. */
  boolean writeTo(Channel channel) {
    boolean any = false;
    while (!frames.isEmpty() && channel.isWritable()) {
      byte[] next = frames.poll();
      bytes -= next.length;
      channel.write(Unpooled.wrappedBuffer(next), channel.voidPromise());
      any = true;
    }
    return any;
  }

  boolean isEmpty() {
    return frames.isEmpty();
  }
}

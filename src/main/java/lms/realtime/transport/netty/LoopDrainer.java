package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import java.util.function.Function;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;

/**
 * One event loop as a drainer of one kind of connection (its WebSockets, or its event streams: each
 * loop has one drainer of each): a room's event costs this loop one task, which copies the frame's
 * bytes of that kind into one direct buffer and writes a duplicate of it to each member the loop
 * owns, one write and one flush per connection (the same shape as the raw Netty ceiling of the
 * benchmarks).
 */
final class LoopDrainer implements Drainer {
  private final EventLoop loop;
  private final Metrics metrics;
  private final Function<Frame, byte[]> bytes;

  /** {@code bytes}: a frame as this kind of connection carries it ({@link Frame#wire}, {@link Frame#sse}). */
  LoopDrainer(EventLoop loop, Metrics metrics, Function<Frame, byte[]> bytes) {
    this.loop = loop;
    this.metrics = metrics;
    this.bytes = bytes;
  }

  @Override
  public void deliver(Frame frame, Outbox[] members, int count) {
    loop.execute(() -> {
      byte[] rendered = bytes.apply(frame);
      ByteBuf shared = ByteBufAllocator.DEFAULT.directBuffer(rendered.length).writeBytes(rendered);
      try {
        for (int i = 0; i < count; i++) {
          ((LoopOutbox) members[i]).writeShared(shared, frame);
        }
      } finally {
        shared.release();
      }
      metrics.framesOut(count);
    });
  }
}

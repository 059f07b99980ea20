package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;

/**
 * One event loop as a drainer: a room's event costs this loop one task, which copies the frame into
 * one direct buffer and writes a duplicate of it to each member the loop owns, one write and one
 * flush per socket (the same shape as the raw Netty ceiling of the benchmarks).
 */
final class LoopDrainer implements Drainer {
  private final EventLoop loop;
  private final Metrics metrics;

  LoopDrainer(EventLoop loop, Metrics metrics) {
    this.loop = loop;
    this.metrics = metrics;
  }

  @Override
  public void deliver(Frame frame, Outbox[] members, int count) {
    loop.execute(() -> {
      ByteBuf shared = ByteBufAllocator.DEFAULT.directBuffer(frame.size()).writeBytes(frame.wire());
      try {
        for (int i = 0; i < count; i++) {
          ((NettySocket) members[i]).writeShared(shared, frame);
        }
      } finally {
        shared.release();
      }
      metrics.framesOut(count);
    });
  }
}

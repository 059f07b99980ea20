package lms.realtime.transport.netty;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import lms.realtime.fanout.Frame;
import lms.realtime.metrics.Metrics;

/**
 * One event loop's event streams (the HTTP fallback's, contract §10): their drainer (a room's event
 * is one task per loop for them too, in their bytes, {@link Frame#sse}) and one keep-alive timer for
 * all of them, not one per stream: every {@code lms.fallback.keep-alive} each open stream gets a
 * comment line, so that proxies keep it open. On the loop.
 */
final class LoopStreams {
  final LoopDrainer drainer;
  private final Set<NettyStream> open = new HashSet<>();

  LoopStreams(EventLoop loop, Metrics metrics, Duration keepAlive) {
    this.drainer = new LoopDrainer(loop, metrics, Frame::sse);
    if (!keepAlive.isZero()) {
      loop.scheduleAtFixedRate(this::keepAlive, keepAlive.toNanos(), keepAlive.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  void add(NettyStream stream) {
    open.add(stream);
  }

  void remove(NettyStream stream) {
    open.remove(stream);
  }

  private void keepAlive() {
    // a copy: a write that fails closes its stream, which leaves the set
    for (NettyStream stream : open.toArray(new NettyStream[0])) {
      stream.keepAlive();
    }
  }
}

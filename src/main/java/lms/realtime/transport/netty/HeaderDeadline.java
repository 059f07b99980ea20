package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import lms.realtime.session.PerAddress;

/**
 * Half-open connections (issue 12): a request whose line and headers have not all come within
 * {@code lms.http.header-timeout} of the connection opening, or of its first byte for a later request,
 * ends the connection; and a peer may hold at most {@code lms.http.max-unfinished-per-ip} connections
 * whose first request is not in yet (a new one past that is closed at once). {@link NettyHttp} tells
 * it when a request is in; a WebSocket leaves it behind at the upgrade.
 */
final class HeaderDeadline extends ChannelInboundHandlerAdapter {
  static final String NAME = "header-deadline";

  private final long timeoutNanos;
  private final PerAddress unfinished;
  private final int maxUnfinished;
  private String address;
  private boolean holdsSlot;
  private boolean inRequest;
  private ScheduledFuture<?> timer;

  HeaderDeadline(long timeoutNanos, PerAddress unfinished, int maxUnfinished) {
    this.timeoutNanos = timeoutNanos;
    this.unfinished = unfinished;
    this.maxUnfinished = maxUnfinished;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    address = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress().getHostAddress();
    if (!unfinished.tryAcquire(address, maxUnfinished)) {
      ctx.close();
      return;
    }
    holdsSlot = true;
    inRequest = true; // the first request is due from now on
    arm(ctx);
    super.channelActive(ctx);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (!inRequest && msg instanceof ByteBuf b && b.isReadable()) {
      inRequest = true; // a later request on a kept-alive connection starts
      arm(ctx);
    }
    super.channelRead(ctx, msg);
  }

  /** A whole request (line, headers, body) is in. */
  void requestIn() {
    inRequest = false;
    cancel();
    releaseSlot();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    cancel();
    releaseSlot();
    super.channelInactive(ctx);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    cancel();
    releaseSlot();
  }

  private void arm(ChannelHandlerContext ctx) {
    cancel();
    timer = ctx.executor().schedule(() -> {
      ctx.close();
    }, timeoutNanos, TimeUnit.NANOSECONDS);
  }

  private void cancel() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  private void releaseSlot() {
    if (holdsSlot) {
      holdsSlot = false;
      unfinished.release(address);
    }
  }
}

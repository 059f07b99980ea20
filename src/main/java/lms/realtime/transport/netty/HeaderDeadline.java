package lms.realtime.transport.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import lms.realtime.session.PerAddress;
import lms.realtime.transport.UnfinishedRequest;

/**
 * Half-open connections (issue 12): a request (line, headers, body) that has not all come within
 * {@code lms.http.header-timeout} of the connection opening, or of its first byte for a later request,
 * ends the connection; and a peer may hold at most {@code lms.http.max-unfinished-per-ip} unfinished
 * requests (past it the connection is closed at once). It reads the bytes before Netty's decoder
 * does, and its {@link UnfinishedRequest} finds where each request begins and ends (issue 22: when
 * the read that finished one request also held the start of the next, nothing used to time that
 * one). A WebSocket leaves it behind at the upgrade.
 */
final class HeaderDeadline extends ChannelInboundHandlerAdapter implements UnfinishedRequest.Guard {
  static final String NAME = "header-deadline";

  private final long timeoutNanos;
  private final PerAddress unfinished;
  private final int maxUnfinished;
  private ChannelHandlerContext ctx;
  private UnfinishedRequest request;
  private ScheduledFuture<?> timer;

  HeaderDeadline(long timeoutNanos, PerAddress unfinished, int maxUnfinished) {
    this.timeoutNanos = timeoutNanos;
    this.unfinished = unfinished;
    this.maxUnfinished = maxUnfinished;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    this.ctx = ctx;
    String address = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress().getHostAddress();
    request = new UnfinishedRequest(unfinished, address, maxUnfinished, this);
    request.started(); // the first request is due from now on
    if (!request.refused()) {
      super.channelActive(ctx);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (msg instanceof ByteBuf b) {
      int from = b.readerIndex();
      request.read(b.readableBytes(), i -> b.getByte(from + i));
    }
    if (request.refused()) {
      ReferenceCountUtil.release(msg); // closing: nothing more is read
      return;
    }
    super.channelRead(ctx, msg);
  }

  @Override
  public void startTimer() {
    stopTimer();
    timer = ctx.executor().schedule(() -> {
      ctx.close();
    }, timeoutNanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void stopTimer() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  @Override
  public void refuse() {
    ctx.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    stop();
    super.channelInactive(ctx);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    stop();
  }

  private void stop() {
    if (request != null) {
      request.stop();
    }
  }
}

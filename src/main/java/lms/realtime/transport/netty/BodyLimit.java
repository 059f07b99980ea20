package lms.realtime.transport.netty;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import lms.realtime.protocol.ErrorCodes;

/**
 * The body bound: over {@code lms.http.max-body-bytes}, the contract's 400 {@code too_large}. The
 * rest of the body is read and dropped (closing while the client still sends would reset the
 * connection and lose the answer), and the connection goes on when the request keeps it alive.
 */
final class BodyLimit extends HttpObjectAggregator {
  static final String NAME = "body";

  private final HeaderDeadline deadline;

  BodyLimit(int maxBytes, HeaderDeadline deadline) {
    super(maxBytes);
    this.deadline = deadline;
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    deadline.requestIn();
    FullHttpResponse response = Answers.error(HttpResponseStatus.BAD_REQUEST,
        ErrorCodes.TOO_LARGE, "body larger than " + maxContentLength() + " bytes");
    boolean keepAlive = HttpUtil.isKeepAlive(oversized) && !(oversized instanceof FullHttpRequest);
    HttpUtil.setKeepAlive(response, keepAlive);
    if (keepAlive) {
      ctx.writeAndFlush(response, ctx.voidPromise());
    } else {
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
  }
}

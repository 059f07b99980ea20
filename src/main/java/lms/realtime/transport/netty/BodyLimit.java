package lms.realtime.transport.netty;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import lms.realtime.protocol.ErrorCodes;

/**
 * The body bound: over {@code lms.http.max-body-bytes}, the contract's 400 {@code too_large}; for a
 * batch ({@code POST /api/v1/batch}) over {@code lms.http.max-batch-bytes}, 413 {@code too_large}
 * (contract §10). The rest of the body is read and dropped (closing while the client still sends
 * would reset the connection and lose the answer), and the connection goes on when the request
 * keeps it alive. A body without a length (chunked) is gathered up to the larger bound, and the
 * route checks it against its own.
 */
final class BodyLimit extends HttpObjectAggregator {
  static final String NAME = "body";
  static final String BATCH = "/api/v1/batch";

  private final int maxBody;
  private final int maxBatch;

  BodyLimit(int maxBody, int maxBatch) {
    super(Math.max(maxBody, maxBatch));
    this.maxBody = maxBody;
    this.maxBatch = maxBatch;
  }

  private static boolean isBatch(HttpMessage message) {
    return message instanceof HttpRequest r && (r.uri().equals(BATCH) || r.uri().startsWith(BATCH + "?"));
  }

  @Override
  protected boolean isContentLengthInvalid(HttpMessage start, int maxContentLength) {
    return super.isContentLengthInvalid(start, isBatch(start) ? maxBatch : maxBody);
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    boolean batch = isBatch(oversized);
    FullHttpResponse response = Answers.error(batch ? HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE : HttpResponseStatus.BAD_REQUEST,
        ErrorCodes.TOO_LARGE, (batch ? "a batch body is at most " + maxBatch : "body larger than " + maxBody) + " bytes");
    boolean keepAlive = HttpUtil.isKeepAlive(oversized) && !(oversized instanceof FullHttpRequest);
    HttpUtil.setKeepAlive(response, keepAlive);
    if (keepAlive) {
      ctx.writeAndFlush(response, ctx.voidPromise());
    } else {
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
  }
}

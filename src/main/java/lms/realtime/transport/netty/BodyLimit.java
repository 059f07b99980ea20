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
 * (contract §10), and for the HTTP fallback's POSTs ({@code /sse/...}) over
 * {@code lms.fallback.max-post-bytes}, 413 {@code too_large} too. The rest of the body is read and dropped (closing while the client still sends
 * would reset the connection and lose the answer), and the connection goes on when the request
 * keeps it alive. A body without a length (chunked) is gathered up to the larger bound, and the
 * route checks it against its own.
 */
final class BodyLimit extends HttpObjectAggregator {
  static final String NAME = "body";
  static final String BATCH = "/api/v1/batch";
  static final String FALLBACK = "/sse/";

  private final int maxBody;
  private final int maxBatch;
  private final int maxPost;

  BodyLimit(int maxBody, int maxBatch, int maxPost) {
    super(Math.max(maxBody, Math.max(maxBatch, maxPost)));
    this.maxBody = maxBody;
    this.maxBatch = maxBatch;
    this.maxPost = maxPost;
  }

  private static boolean isFallbackPost(HttpMessage message) {
    return message instanceof HttpRequest r && r.uri().startsWith(FALLBACK);
  }

  private int bound(HttpMessage message) {
    return isBatch(message) ? maxBatch : isFallbackPost(message) ? maxPost : maxBody;
  }

  private static boolean isBatch(HttpMessage message) {
    return message instanceof HttpRequest r && (r.uri().equals(BATCH) || r.uri().startsWith(BATCH + "?"));
  }

  @Override
  protected boolean isContentLengthInvalid(HttpMessage start, int maxContentLength) {
    return super.isContentLengthInvalid(start, bound(start));
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    boolean batch = isBatch(oversized);
    FullHttpResponse response = batch || isFallbackPost(oversized)
        ? Answers.error(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, ErrorCodes.TOO_LARGE,
            (batch ? "a batch body" : "a POST body") + " is at most " + bound(oversized) + " bytes")
        : Answers.error(HttpResponseStatus.BAD_REQUEST, ErrorCodes.TOO_LARGE, "body larger than " + maxBody + " bytes");
    boolean keepAlive = HttpUtil.isKeepAlive(oversized) && !(oversized instanceof FullHttpRequest);
    HttpUtil.setKeepAlive(response, keepAlive);
    if (keepAlive) {
      ctx.writeAndFlush(response, ctx.voidPromise());
    } else {
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
  }
}

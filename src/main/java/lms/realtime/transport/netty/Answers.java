package lms.realtime.transport.netty;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JSON answers the netty transport writes itself (the routes write the rest), in the contract's
 * error shape; and the one place a failure that is not the client's is logged and counted.
 */
final class Answers {
  private static final Logger LOG = LoggerFactory.getLogger(NettyHttp.class);

  private Answers() {}

  static FullHttpResponse json(HttpResponseStatus status, String body) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        Unpooled.wrappedBuffer(body.getBytes(StandardCharsets.UTF_8)));
    response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
    HttpUtil.setContentLength(response, response.content().readableBytes());
    return response;
  }

  static FullHttpResponse error(HttpResponseStatus status, String code, String message) {
    return json(status, Json.errorBody(code, message));
  }

  /** A failure that is not the client's: logged with its cause, counted, answered 500. */
  static FullHttpResponse internalError(Metrics metrics, String what, Throwable failure, String message) {
    metrics.httpFailed("internal");
    LOG.error("{} failed", what, failure);
    return error(HttpResponseStatus.INTERNAL_SERVER_ERROR, ErrorCodes.INTERNAL, message);
  }
}

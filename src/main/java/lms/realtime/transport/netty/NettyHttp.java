package lms.realtime.transport.netty;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import lms.realtime.protocol.ErrorCodes;

/**
 * One HTTP connection on the netty transport, until it becomes a WebSocket (if it does). Requests
 * are answered one at a time, in order: {@code GET /ws} by the {@link NettyUpgrade}, the HTTP
 * fallback's {@code /sse} requests by the {@link NettyFallback}, the backend's
 * writes by {@link BackendWrites}, everything else by the pekko-http routes through the
 * {@link RouteBridge}. While a request is being answered nothing
 * more is read.
 */
final class NettyHttp extends ChannelInboundHandlerAdapter {
  static final String NAME = "request";
  static final String IDLE = "idle";

  /** Where a request's answer goes: written, then the next request (or the connection closes). On the loop. */
  interface Answer {
    void send(boolean keepAlive, FullHttpResponse response);
  }

  private final NettyUpgrade upgrade;
  private final NettyFallback fallback;
  private final RouteBridge routes;
  private final BackendWrites backendWrites;
  private final ArrayDeque<FullHttpRequest> pending = new ArrayDeque<>(1);
  private boolean busy;

  NettyHttp(NettyUpgrade upgrade, NettyFallback fallback, RouteBridge routes, BackendWrites backendWrites) {
    this.upgrade = upgrade;
    this.fallback = fallback;
    this.routes = routes;
    this.backendWrites = backendWrites;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest request)) {
      ReferenceCountUtil.release(msg);
      return;
    }
    pending.add(request);
    if (!busy) {
      next(ctx);
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof IdleStateEvent && !busy) {
      ctx.close(); // an HTTP connection with nothing to say (sockets leave this handler behind)
      return;
    }
    super.userEventTriggered(ctx, evt);
  }

  /** Requests still waiting when the connection ends, or after it became a WebSocket, are dropped. */
  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    FullHttpRequest r;
    while ((r = pending.poll()) != null) {
      r.release();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    handlerRemoved(ctx);
    super.channelInactive(ctx);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  private void next(ChannelHandlerContext ctx) {
    FullHttpRequest request = pending.poll();
    if (request == null) {
      busy = false;
      ctx.channel().config().setAutoRead(true);
      return;
    }
    busy = true;
    ctx.channel().config().setAutoRead(false);
    if (!request.decoderResult().isSuccess()) {
      Throwable cause = request.decoderResult().cause();
      refuse(ctx, request, cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
          : cause instanceof TooLongHttpHeaderException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
          : HttpResponseStatus.BAD_REQUEST, "malformed HTTP request");
      return;
    }
    RequestTarget target;
    try {
      target = RequestTarget.of(request);
    } catch (RequestTarget.Refused e) {
      refuse(ctx, request, HttpResponseStatus.BAD_REQUEST, "malformed HTTP request: " + e.getMessage());
      return;
    }
    QueryStringDecoder uri = new QueryStringDecoder(target.pathAndQuery());
    Answer answer = (keepAlive, response) -> answer(ctx, keepAlive, response);
    if (request.method().equals(HttpMethod.GET) && uri.path().equals("/ws")) {
      upgrade.open(ctx, request, uri, answer);
    } else if (!fallback.answer(ctx, request, uri, answer) && !backendWrites.answer(ctx, request, target.pathAndQuery(), answer)) {
      routes.route(ctx, request, target, answer);
    }
  }

  /** A request no route answers (Netty's decoder could not read it, or it has no address): then the connection closes. */
  private static void refuse(ChannelHandlerContext ctx, FullHttpRequest request, HttpResponseStatus status, String message) {
    request.release();
    FullHttpResponse response = Answers.error(status, ErrorCodes.BAD_REQUEST, message);
    response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
  }

  /** Writes an answer and goes on with the next request (or closes, as the request asked). */
  private void answer(ChannelHandlerContext ctx, boolean keepAlive, FullHttpResponse response) {
    HttpUtil.setKeepAlive(response, keepAlive);
    if (keepAlive) {
      ctx.writeAndFlush(response, ctx.voidPromise());
      next(ctx);
    } else {
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
  }
}

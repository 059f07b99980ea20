package lms.realtime.transport.netty;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.handler.codec.http.websocketx.Utf8FrameValidator;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.handler.timeout.IdleStateEvent;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.session.Handshake;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpProtocols;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RemoteAddress;
import org.apache.pekko.http.javadsl.model.Uri;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP connection on the netty transport, until it becomes a WebSocket (if it does). Requests
 * are answered one at a time, in order: {@code GET /ws} by the shared {@link Handshake} and Netty's
 * WebSocket handshaker, everything else by the pekko-http routes called as a function. While a
 * request is being answered nothing more is read.
 */
final class NettyHttp extends ChannelInboundHandlerAdapter {
  static final String NAME = "request";
  static final String IDLE = "idle";

  private static final Logger LOG = LoggerFactory.getLogger(NettyHttp.class);

  private final NettyTransport transport;
  private final HeaderDeadline deadline;
  private final ArrayDeque<FullHttpRequest> pending = new ArrayDeque<>(1);
  private boolean busy;

  NettyHttp(NettyTransport transport, HeaderDeadline deadline) {
    this.transport = transport;
    this.deadline = deadline;
  }

  /** A failure that is not the client's: logged with its cause, counted, answered 500. */
  private void internalError(String what, Throwable failure) {
    transport.node.metrics().httpFailed("internal");
    LOG.error("{} failed", what, failure);
  }

  /**
   * The body bound: over {@code lms.http.max-body-bytes}, the contract's 400 {@code too_large}. The
   * rest of the body is read and dropped (closing while the client still sends would reset the
   * connection and lose the answer), and the connection goes on when the request keeps it alive.
   */
  static final class BodyLimit extends HttpObjectAggregator {
    private final HeaderDeadline deadline;

    BodyLimit(int maxBytes, HeaderDeadline deadline) {
      super(maxBytes);
      this.deadline = deadline;
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
      deadline.requestIn();
      FullHttpResponse response = json(HttpResponseStatus.BAD_REQUEST,
          Json.errorBody(ErrorCodes.TOO_LARGE, "body larger than " + maxContentLength() + " bytes"));
      boolean keepAlive = HttpUtil.isKeepAlive(oversized) && !(oversized instanceof FullHttpRequest);
      HttpUtil.setKeepAlive(response, keepAlive);
      if (keepAlive) {
        ctx.writeAndFlush(response, ctx.voidPromise());
      } else {
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
      }
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest request)) {
      io.netty.util.ReferenceCountUtil.release(msg);
      return;
    }
    deadline.requestIn();
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
      HttpResponseStatus status = cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
          : cause instanceof TooLongHttpHeaderException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
          : HttpResponseStatus.BAD_REQUEST;
      request.release();
      FullHttpResponse response = json(status, Json.errorBody(ErrorCodes.BAD_REQUEST, "malformed HTTP request"));
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    QueryStringDecoder uri = new QueryStringDecoder(request.uri());
    if (request.method().equals(HttpMethod.GET) && uri.path().equals("/ws")) {
      webSocket(ctx, request, uri);
    } else {
      route(ctx, request);
    }
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

  // ------------------------------------------------------------------ GET /ws

  private void webSocket(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri) {
    CompletionStage<Handshake.Outcome> outcome;
    try {
      outcome = transport.handshake.open(new View(request, uri, ctx), () -> new NettySocket(transport, ctx.channel()));
    } catch (RuntimeException e) {
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      request.release();
      internalError("handshake", e);
      answer(ctx, keepAlive, json(HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.errorBody(ErrorCodes.INTERNAL, "handshake failed")));
      return;
    }
    outcome.whenComplete((o, failure) -> ctx.executor().execute(() -> handshaken(ctx, request, o, failure)));
  }

  private void handshaken(ChannelHandlerContext ctx, FullHttpRequest request, Handshake.Outcome outcome, Throwable failure) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    if (failure != null || outcome instanceof Handshake.Refused) {
      request.release();
      Handshake.Refused refused = failure != null
          ? new Handshake.Refused(500, Json.errorBody(ErrorCodes.INTERNAL, "handshake failed"), 0)
          : (Handshake.Refused) outcome;
      FullHttpResponse response = json(HttpResponseStatus.valueOf(refused.status()), refused.body());
      if (refused.retryAfterSeconds() > 0) {
        response.headers().set(HttpHeaderNames.RETRY_AFTER, refused.retryAfterSeconds());
      }
      answer(ctx, keepAlive, response);
      return;
    }
    Handshake.Admitted admitted = (Handshake.Admitted) outcome;
    NettySocket socket = (NettySocket) admitted.outbox();
    socket.bind(admitted.connection(), admitted.gate());
    if (!ctx.channel().isActive()) {
      request.release();
      return; // gone while the user entity decided; the socket has told its connection
    }
    String url = "ws://" + request.headers().get(HttpHeaderNames.HOST, "localhost") + "/ws";
    WebSocketServerHandshaker handshaker =
        new WebSocketServerHandshakerFactory(url, null, transport.decoderConfig).newHandshaker(request);
    try {
      handshaker.handshake(ctx.channel(), request).addListener(f -> {
        if (!f.isSuccess()) {
          ctx.close();
          return;
        }
        ChannelPipeline p = ctx.pipeline();
        p.remove(IDLE);
        p.remove(HeaderDeadline.NAME);
        // Netty's codec: the frame decoder (1002, 1009 at the header), UTF-8 validation across
        // fragments (1007), fragments joined into messages up to the same bound (1009)
        p.addAfter("wsdecoder", "utf8", new Utf8FrameValidator(false));
        p.addAfter("utf8", "messages", new WebSocketFrameAggregator(transport.settings.maxFrameBytes()));
        p.replace(this, NettySocket.NAME, socket.handler());
        socket.opened();
      });
    } finally {
      request.release();
    }
  }

  /** A Netty request as the handshake reads it. */
  private record View(FullHttpRequest request, QueryStringDecoder uri, ChannelHandlerContext ctx) implements Handshake.Request {
    @Override
    public String header(String name) {
      return request.headers().get(name);
    }

    @Override
    public List<String> headers(String name) {
      return request.headers().getAll(name);
    }

    @Override
    public String cookie(String name) {
      for (String header : request.headers().getAll(HttpHeaderNames.COOKIE)) {
        for (Cookie c : ServerCookieDecoder.LAX.decodeAll(header)) {
          if (c.name().equals(name)) {
            return c.value();
          }
        }
      }
      return null;
    }

    @Override
    public String query(String name) {
      List<String> values = uri.parameters().get(name);
      return values == null || values.isEmpty() ? null : values.get(0);
    }

    @Override
    public String peerAddress() {
      return ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress().getHostAddress();
    }
  }

  // ------------------------------------------------------------------ every other request

  private void route(ChannelHandlerContext ctx, FullHttpRequest request) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    HttpRequest pekko;
    try {
      pekko = toPekko(request, (InetSocketAddress) ctx.channel().remoteAddress());
    } catch (RuntimeException e) {
      answer(ctx, keepAlive, json(HttpResponseStatus.BAD_REQUEST, Json.errorBody(ErrorCodes.BAD_REQUEST, "malformed request: " + e.getMessage())));
      return;
    } finally {
      request.release();
    }
    if (pekko == null) {
      answer(ctx, keepAlive, json(HttpResponseStatus.NOT_IMPLEMENTED, Json.errorBody(ErrorCodes.BAD_REQUEST, "method not implemented")));
      return;
    }
    CompletionStage<HttpResponse> response;
    try {
      response = transport.routes.apply(pekko);
    } catch (Exception e) {
      internalError(request.uri(), e);
      answer(ctx, keepAlive, json(HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.errorBody(ErrorCodes.INTERNAL, "the request failed")));
      return;
    }
    String uri = request.uri();
    response
        .thenCompose(r -> r.entity().toStrict(transport.node.settings().internals().routeResponseTimeout().toMillis(), transport.materializer).thenApply(body -> toNetty(r, body)))
        .whenComplete((r, failure) -> {
          if (failure != null) {
            internalError(uri, failure);
          }
          ctx.executor().execute(() -> answer(ctx, keepAlive && failure == null && !closes(r),
              failure == null ? r : json(HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.errorBody(ErrorCodes.INTERNAL, "the request failed"))));
        });
  }

  private static boolean closes(FullHttpResponse response) {
    return response.headers().containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE, true);
  }

  /** The request as pekko-http's server would have built it, or null for a method it does not know. */
  private static HttpRequest toPekko(FullHttpRequest request, InetSocketAddress peer) {
    var method = HttpMethods.lookup(request.method().name());
    if (method.isEmpty()) {
      return null;
    }
    List<HttpHeader> headers = new ArrayList<>(request.headers().size());
    ContentType contentType = null;
    for (Map.Entry<String, String> h : request.headers()) {
      String name = h.getKey();
      if (name.equalsIgnoreCase("Content-Type")) {
        contentType = ContentTypes.parse(h.getValue());
      } else if (!name.equalsIgnoreCase("Content-Length") && !name.equalsIgnoreCase("Transfer-Encoding")) {
        headers.add(header(name, h.getValue()));
      }
    }
    byte[] body = ByteBufUtil.getBytes(request.content());
    HttpEntity.Strict entity = body.length == 0 && contentType == null
        ? HttpEntities.EMPTY
        : HttpEntities.create(contentType != null ? contentType : ContentTypes.APPLICATION_OCTET_STREAM, body);
    String host = request.headers().get(HttpHeaderNames.HOST, "localhost");
    return HttpRequest.create()
        .withMethod(method.get())
        .withUri(Uri.create("http://" + host + request.uri()))
        .withProtocol(request.protocolVersion().equals(HttpVersion.HTTP_1_0) ? HttpProtocols.HTTP_1_0 : HttpProtocols.HTTP_1_1)
        .addHeaders(headers)
        .withEntity(entity)
        .addAttribute(AttributeKeys.remoteAddress, RemoteAddress.create(peer));
  }

  /** A modelled header where pekko-http has a model for it (routes match on those), raw otherwise. */
  private static HttpHeader header(String name, String value) {
    try {
      return HttpHeader.parse(name, value);
    } catch (RuntimeException e) {
      return RawHeader.create(name, value);
    }
  }

  private static FullHttpResponse toNetty(HttpResponse response, HttpEntity.Strict body) {
    byte[] bytes = body.getData().toArray();
    FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.valueOf(response.status().intValue()), Unpooled.wrappedBuffer(bytes));
    for (HttpHeader h : response.getHeaders()) {
      out.headers().add(h.name(), h.value());
    }
    if (!body.getContentType().equals(ContentTypes.NO_CONTENT_TYPE)) {
      out.headers().set(HttpHeaderNames.CONTENT_TYPE, body.getContentType().toString());
    }
    HttpUtil.setContentLength(out, bytes.length);
    return out;
  }

  static FullHttpResponse json(HttpResponseStatus status, String body) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        Unpooled.wrappedBuffer(body.getBytes(StandardCharsets.UTF_8)));
    response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
    HttpUtil.setContentLength(response, response.content().readableBytes());
    return response;
  }
}

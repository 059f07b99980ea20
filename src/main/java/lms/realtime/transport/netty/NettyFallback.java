package lms.realtime.transport.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import lms.realtime.session.Handshake;
import lms.realtime.transport.fallback.FallbackEndpoints;
import lms.realtime.transport.fallback.HttpAnswer;

/**
 * The HTTP fallback (contract §10) on the netty transport, answered on the channel's loop without
 * the pekko-http routes, as {@code /ws} is: {@code GET /sse} (the shared {@link Handshake}, then an
 * event stream, {@link NettyStream}, or the first long poll), {@code POST /sse/{id}},
 * {@code GET /sse/{id}/poll}, and {@code OPTIONS} of each. What both transports share of it is
 * {@link FallbackEndpoints}. One per transport, for every connection.
 */
final class NettyFallback {
  private static final String PREFIX = "/sse";
  private static final String POLL = "/poll";

  private final NettyTransport transport;
  private final FallbackEndpoints endpoints;

  NettyFallback(NettyTransport transport) {
    this.transport = transport;
    this.endpoints = new FallbackEndpoints(transport.node, transport.handshake);
  }

  /** Answers a fallback request (true), or leaves it to the routes (false: 404, 405). On the channel's loop. */
  boolean answer(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri, NettyHttp.Answer answer) {
    String path = uri.path();
    if (!path.startsWith(PREFIX)) {
      return false;
    }
    String rest = path.substring(PREFIX.length());
    String id = rest.startsWith("/") ? rest.substring(1) : null;
    boolean poll = id != null && id.endsWith(POLL);
    if (poll) {
      id = id.substring(0, id.length() - POLL.length());
    }
    if (!rest.isEmpty() && (id == null || id.isEmpty() || id.indexOf('/') >= 0)) {
      return false;
    }
    HttpMethod method = request.method();
    if (method.equals(HttpMethod.OPTIONS)) {
      reply(request, answer, endpoints.preflight(origin(request), host(request)));
    } else if (rest.isEmpty() && method.equals(HttpMethod.GET)) {
      open(ctx, request, uri, answer);
    } else if (!poll && id != null && method.equals(HttpMethod.POST)) {
      post(request, id, answer);
    } else if (poll && method.equals(HttpMethod.GET)) {
      poll(ctx, request, uri, id, answer);
    } else {
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ GET /sse

  private void open(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri, NettyHttp.Answer answer) {
    Handshake.Kind kind = Handshake.Kind.ofMode(first(uri, "mode"));
    NettyUpgrade.handshake(transport, ctx, request, uri, kind,
        () -> kind == Handshake.Kind.POLL ? endpoints.newPollOutbox() : new NettyStream(transport, ctx.channel()), answer,
        (o, failure) -> decided(ctx, request, o, failure, answer));
  }

  private void decided(ChannelHandlerContext ctx, FullHttpRequest request, Handshake.Outcome outcome, Throwable failure,
      NettyHttp.Answer answer) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    String origin = origin(request);
    String host = host(request);
    request.release();
    if (failure != null) {
      answer.send(keepAlive, Answers.internalError(transport.node.metrics(), "handshake", failure, "handshake failed"));
      return;
    }
    if (outcome instanceof Handshake.Refused refused) {
      answer.send(keepAlive, toNetty(endpoints.refused(refused, origin, host)));
      return;
    }
    Handshake.Admitted admitted = (Handshake.Admitted) outcome;
    if (!(admitted.outbox() instanceof NettyStream stream)) {
      endpoints.admitted(admitted, origin, host, first -> onLoop(ctx, () -> answer.send(keepAlive, toNetty(first))));
      return;
    }
    stream.bind(admitted.connection());
    if (!ctx.channel().isActive()) {
      return; // gone while the user entity decided; the stream has told its connection
    }
    endpoints.admitted(admitted, origin, host, null);
    stream.start(ctx, head(endpoints.streamHeaders(origin, host)));
  }

  /** A 200 with no length: the events follow until the connection ends. */
  private static HttpResponse head(List<HttpAnswer.Header> headers) {
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    HttpHeaders h = head.headers();
    h.set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream");
    h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    headers.forEach(header -> h.add(header.name(), header.value()));
    return head;
  }

  // ------------------------------------------------------------------ POST, poll

  private void post(FullHttpRequest request, String id, NettyHttp.Answer answer) {
    int max = transport.settings.fallback().maxPostBytes();
    HttpAnswer out = request.content().readableBytes() > max
        ? endpoints.tooLarge(origin(request), host(request))
        : endpoints.post(id, request.headers().get(HttpHeaderNames.AUTHORIZATION), origin(request), host(request),
            request.content().toString(StandardCharsets.UTF_8));
    reply(request, answer, out);
  }

  private void poll(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri, String id, NettyHttp.Answer answer) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    String origin = origin(request);
    String host = host(request);
    request.release();
    endpoints.poll(id, first(uri, "key"), first(uri, "from"), origin, host,
        polled -> onLoop(ctx, () -> answer.send(keepAlive, toNetty(polled))));
  }

  private static void reply(FullHttpRequest request, NettyHttp.Answer answer, HttpAnswer out) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    request.release();
    answer.send(keepAlive, toNetty(out));
  }

  static FullHttpResponse toNetty(HttpAnswer a) {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(a.status()),
        Unpooled.wrappedBuffer(a.body()));
    if (a.contentType() != null) {
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, a.contentType());
    }
    a.headers().forEach(h -> r.headers().add(h.name(), h.value()));
    HttpUtil.setContentLength(r, a.body().length);
    return r;
  }

  private static void onLoop(ChannelHandlerContext ctx, Runnable task) {
    if (ctx.executor().inEventLoop()) {
      task.run();
    } else {
      ctx.executor().execute(task);
    }
  }

  private static String origin(FullHttpRequest request) {
    return request.headers().get(HttpHeaderNames.ORIGIN);
  }

  private static String host(FullHttpRequest request) {
    return request.headers().get(HttpHeaderNames.HOST);
  }

  private static String first(QueryStringDecoder uri, String name) {
    List<String> values = uri.parameters().get(name);
    return values == null || values.isEmpty() ? null : values.get(0);
  }
}

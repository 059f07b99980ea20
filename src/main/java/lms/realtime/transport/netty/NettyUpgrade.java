package lms.realtime.transport.netty;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.handler.codec.http.websocketx.Utf8FrameValidator;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.session.Handshake;

/**
 * {@code GET /ws} on the netty transport: the shared {@link Handshake} decides; a refusal is
 * answered as the contract words it, and an admitted socket gets Netty's 101 and WebSocket codec,
 * with its {@link NettySocket} in place of the HTTP handler. One per transport, for every connection.
 */
final class NettyUpgrade {
  private final NettyTransport transport;

  NettyUpgrade(NettyTransport transport) {
    this.transport = transport;
  }

  /** Decides the upgrade; a refusal goes to {@code answer}, on the channel's loop. */
  void open(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri, NettyHttp.Answer answer) {
    handshake(transport, ctx, request, uri, Handshake.Kind.WEBSOCKET, () -> new NettySocket(transport, ctx.channel()), answer,
        (o, failure) -> decided(ctx, request, o, failure, answer));
  }

  /** What a request's transport does with the handshake's outcome (or failure), on the channel's loop. */
  interface Decided {
    void accept(Handshake.Outcome outcome, Throwable failure);
  }

  /**
   * Runs the shared handshake for a request that opens a connection of this kind ({@code GET /ws},
   * or the fallback's {@code GET /sse}) and hands its outcome to {@code decided} on the channel's
   * loop; a handshake that throws is answered 500 at once.
   */
  static void handshake(NettyTransport transport, ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder uri,
      Handshake.Kind kind, Supplier<Outbox> newOutbox, NettyHttp.Answer answer, Decided decided) {
    CompletionStage<Handshake.Outcome> outcome;
    try {
      outcome = transport.handshake.open(new View(request, uri, ctx), kind, newOutbox);
    } catch (RuntimeException e) {
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      request.release();
      answer.send(keepAlive, Answers.internalError(transport.node.metrics(), "handshake", e, "handshake failed"));
      return;
    }
    outcome.whenComplete((o, failure) -> ctx.executor().execute(() -> decided.accept(o, failure)));
  }

  private void decided(ChannelHandlerContext ctx, FullHttpRequest request, Handshake.Outcome outcome, Throwable failure,
      NettyHttp.Answer answer) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    if (failure != null || outcome instanceof Handshake.Refused) {
      request.release();
      answer.send(keepAlive, refusal(failure != null
          ? new Handshake.Refused(500, Json.errorBody(ErrorCodes.INTERNAL, "handshake failed"), 0)
          : (Handshake.Refused) outcome));
      return;
    }
    Handshake.Admitted admitted = (Handshake.Admitted) outcome;
    NettySocket socket = (NettySocket) admitted.outbox();
    socket.bind(admitted.connection(), admitted.gate());
    if (!ctx.channel().isActive()) {
      request.release();
      return; // gone while the user entity decided; the socket has told its connection
    }
    upgrade(ctx, request, socket);
  }

  private static FullHttpResponse refusal(Handshake.Refused refused) {
    FullHttpResponse response = Answers.json(HttpResponseStatus.valueOf(refused.status()), refused.body());
    if (refused.retryAfterSeconds() > 0) {
      response.headers().set(HttpHeaderNames.RETRY_AFTER, refused.retryAfterSeconds());
    }
    return response;
  }

  /** The 101; then the HTTP handlers make way for the WebSocket codec and the socket. */
  private void upgrade(ChannelHandlerContext ctx, FullHttpRequest request, NettySocket socket) {
    String url = "ws://" + request.headers().get(HttpHeaderNames.HOST) + "/ws"; // a Host NettyHttp has checked
    WebSocketServerHandshaker handshaker =
        new WebSocketServerHandshakerFactory(url, null, transport.decoderConfig).newHandshaker(request);
    try {
      handshaker.handshake(ctx.channel(), request).addListener(f -> {
        if (!f.isSuccess()) {
          ctx.close();
          return;
        }
        ChannelPipeline p = ctx.pipeline();
        p.remove(NettyHttp.IDLE);
        p.remove(HeaderDeadline.NAME);
        // Netty's codec: the frame decoder (1002, 1009 at the header), UTF-8 validation across
        // fragments (1007), fragments joined into messages up to the same bound (1009)
        p.addAfter("wsdecoder", "utf8", new Utf8FrameValidator(false));
        p.addAfter("utf8", "messages", new WebSocketFrameAggregator(transport.settings.limits().maxFrameBytes()));
        p.replace(NettyHttp.NAME, NettySocket.NAME, socket.handler());
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
}

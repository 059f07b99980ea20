package lms.realtime.transport.netty;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import lms.realtime.protocol.ErrorCodes;
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

/**
 * Every request but {@code GET /ws} on the netty transport: turned into the {@code HttpRequest}
 * pekko-http's server would have built, handed to the same routes (called as a function), and the
 * strict response turned back into Netty's. One per transport, for every connection.
 */
final class RouteBridge {
  private final NettyTransport transport;

  RouteBridge(NettyTransport transport) {
    this.transport = transport;
  }

  /** Answers {@code request} through the routes; the answer goes to {@code answer}, on the channel's loop. */
  void route(ChannelHandlerContext ctx, FullHttpRequest request, RequestTarget target, NettyHttp.Answer answer) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    HttpRequest pekko;
    try {
      pekko = toPekko(request, target, (InetSocketAddress) ctx.channel().remoteAddress());
    } catch (RuntimeException e) {
      answer.send(keepAlive, Answers.error(HttpResponseStatus.BAD_REQUEST, ErrorCodes.BAD_REQUEST, "malformed request: " + e.getMessage()));
      return;
    } finally {
      request.release();
    }
    if (pekko == null) {
      answer.send(keepAlive, Answers.error(HttpResponseStatus.NOT_IMPLEMENTED, ErrorCodes.BAD_REQUEST, "method not implemented"));
      return;
    }
    String uri = request.uri();
    CompletionStage<HttpResponse> response;
    try {
      response = transport.routes.apply(pekko);
    } catch (Exception e) {
      answer.send(keepAlive, failed(uri, e));
      return;
    }
    response
        .thenCompose(r -> r.entity().toStrict(transport.node.settings().internals().routeResponseTimeout().toMillis(), transport.materializer).thenApply(body -> toNetty(r, body)))
        .whenComplete((r, failure) -> {
          FullHttpResponse out = failure == null ? r : failed(uri, failure);
          boolean keep = keepAlive && failure == null && !closes(r);
          ctx.executor().execute(() -> answer.send(keep, out));
        });
  }

  private FullHttpResponse failed(String uri, Throwable failure) {
    return Answers.internalError(transport.node.metrics(), uri, failure, "the request failed");
  }

  private static boolean closes(FullHttpResponse response) {
    return response.headers().containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE, true);
  }

  /** The request as pekko-http's server would have built it, or null for a method it does not know. */
  private static HttpRequest toPekko(FullHttpRequest request, RequestTarget target, InetSocketAddress peer) {
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
    return HttpRequest.create()
        .withMethod(method.get())
        .withUri(Uri.create(target.uri()))
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
}

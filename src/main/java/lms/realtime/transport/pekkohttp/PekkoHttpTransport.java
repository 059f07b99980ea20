package lms.realtime.transport.pekkohttp;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import lms.realtime.NodeContext;
import lms.realtime.http.Responses;
import lms.realtime.http.Routes;
import lms.realtime.session.Handshake;
import lms.realtime.transport.Transport;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RemoteAddress;
import org.apache.pekko.http.javadsl.model.headers.Cookie;
import org.apache.pekko.http.javadsl.model.headers.HttpCookiePair;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.scaladsl.Flow;

/**
 * The all-Pekko transport ({@code lms.transport = pekko-http}): pekko-http's server carries every
 * request, and an admitted socket's bytes go through one {@link SocketStage} that feeds its
 * {@code Connection} actor and drains its {@link StageOutbox}.
 */
public final class PekkoHttpTransport extends AllDirectives implements Transport {
  private final NodeContext node;
  private final Handshake handshake;
  private final Routes routes;

  public PekkoHttpTransport(NodeContext node, AtomicBoolean ready) {
    this.node = node;
    this.handshake = new Handshake(node);
    this.routes = new Routes(node, ready, extractRequest(request -> completeWithFuture(open(request))));
  }

  @Override
  public CompletionStage<Binding> bind() {
    return Http.get(node.system())
        .newServerAt(node.settings().httpHost(), node.settings().httpPort())
        .bind(routes.route())
        .thenApply(PekkoBinding::new);
  }

  private CompletionStage<HttpResponse> open(HttpRequest request) {
    return handshake.open(new View(request), () -> new StageOutbox(node.settings(), node.metrics()))
        .thenApply(outcome -> {
          if (outcome instanceof Handshake.Refused r) {
            return Responses.refused(r);
          }
          Handshake.Admitted a = (Handshake.Admitted) outcome;
          SocketStage stage = new SocketStage(a.connection(), (StageOutbox) a.outbox(), a.gate(), node.metrics(),
              node.settings().maxFrameBytes(), node.settings().keepAliveIdle(), node.settings().closeHandshakeTimeout());
          return WebSocketStack.upgrade(request, Flow.fromGraph(stage));
        });
  }

  /** A pekko-http request as the handshake reads it. */
  private record View(HttpRequest request) implements Handshake.Request {
    @Override
    public String header(String name) {
      return request.getHeader(name).map(HttpHeader::value).orElse(null);
    }

    @Override
    public List<String> headers(String name) {
      List<String> values = new ArrayList<>(1);
      for (HttpHeader h : request.getHeaders()) {
        if (h.is(name.toLowerCase(java.util.Locale.ROOT))) {
          values.add(h.value());
        }
      }
      return values;
    }

    @Override
    public String cookie(String name) {
      for (HttpCookiePair cookie : request.getHeader(Cookie.class)
          .map(c -> (Iterable<HttpCookiePair>) c.getCookies()).orElse(List.of())) {
        if (cookie.name().equals(name)) {
          return cookie.value();
        }
      }
      return null;
    }

    @Override
    public String query(String name) {
      return request.getUri().query().get(name).orElse(null);
    }

    @Override
    public String peerAddress() {
      return request.getAttribute(AttributeKeys.remoteAddress)
          .flatMap(RemoteAddress::getAddress)
          .map(java.net.InetAddress::getHostAddress)
          .orElse("unknown");
    }
  }

  private record PekkoBinding(ServerBinding binding) implements Binding {
    @Override
    public InetSocketAddress localAddress() {
      return binding.localAddress();
    }

    @Override
    public CompletionStage<Void> unbind() {
      return binding.unbind().thenApply(done -> null);
    }

    @Override
    public CompletionStage<Void> terminate(Duration deadline) {
      return binding.terminate(deadline).thenApply(done -> null);
    }
  }
}

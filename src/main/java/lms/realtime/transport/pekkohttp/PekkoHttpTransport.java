package lms.realtime.transport.pekkohttp;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.config.Settings;
import lms.realtime.http.Responses;
import lms.realtime.http.Routes;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.session.PerAddress;
import lms.realtime.transport.Transport;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RemoteAddress;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.Cookie;
import org.apache.pekko.http.javadsl.model.headers.HttpCookiePair;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.SystemMaterializer;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.TLSPlacebo;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.util.ByteString;

/**
 * The all-Pekko transport ({@code lms.transport = pekko-http}): pekko-http's server carries every
 * request, and an admitted socket's bytes go through one {@link SocketStage} that feeds its
 * {@code Connection} actor and drains its {@link StageOutbox}; the HTTP fallback's are
 * {@link PekkoFallback}'s.
 */
public final class PekkoHttpTransport extends AllDirectives implements Transport {
  private final NodeContext node;
  private final Handshake handshake;
  private final Routes routes;

  public PekkoHttpTransport(NodeContext node, AtomicBoolean ready) {
    this.node = node;
    this.handshake = new Handshake(node);
    this.routes = new Routes(node, ready, extractRequest(request -> completeWithFuture(open(request))),
        new PekkoFallback(node, handshake));
  }

  /**
   * pekko-http's server layer on connections of our own, as pekko-http's bind builds them, so that
   * each connection's bytes pass a {@link HeaderGuard} first and the connections can be counted
   * ({@code lms.http.max-connections}) and ended together ({@link Binding#terminate}).
   */
  @Override
  @SuppressWarnings({"unchecked", "rawtypes"})
  public CompletionStage<Binding> bind() {
    ActorSystem classic = node.system().classicSystem();
    ServerSettings serverSettings = ServerSettings.create(classic);
    Flow<HttpRequest, HttpResponse, NotUsed> handler = routes.route().flow(classic);
    Materializer materializer = SystemMaterializer.get(classic).materializer();
    SharedKillSwitch connections = KillSwitches.shared("lms-connections");
    AtomicInteger open = new AtomicInteger();
    PerAddress unfinished = new PerAddress();
    Settings settings = node.settings();
    return Tcp.get(classic)
        .bind(settings.http().host(), settings.http().port(), settings.http().backlog(), List.of(), false,
            Optional.of(settings.http().idleTimeout()))
        .to(Sink.foreach(incoming -> {
          if (open.incrementAndGet() > settings.http().maxConnections()) {
            open.decrementAndGet();
            incoming.handleWith(Flow.fromSinkAndSource(Sink.cancelled(), Source.empty()), materializer);
            return;
          }
          InetSocketAddress peer = incoming.remoteAddress();
          BidiFlow layer = Http.get(classic).serverLayer(serverSettings, Optional.of(peer), classic.log())
              .atop((BidiFlow) TLSPlacebo.getInstance());
          HeaderGuard guard = new HeaderGuard(peer.getAddress().getHostAddress(), unfinished,
              settings.http().maxUnfinishedPerIp(), settings.http().headerTimeout());
          Flow<ByteString, ByteString, NotUsed> http = ((BidiFlow<HttpResponse, ByteString, ByteString, HttpRequest, NotUsed>) layer)
              .reversed().join(handler.map(response -> {
                if (response.status().equals(StatusCodes.SWITCHING_PROTOCOLS)) {
                  guard.becameSocket();
                }
                return response;
              }));
          Flow<ByteString, ByteString, NotUsed> guarded = Flow.of(ByteString.class)
              .via(guard)
              .via(http)
              .via(connections.flow())
              .watchTermination((mat, done) -> {
                done.whenComplete((d, failure) -> open.decrementAndGet());
                return mat;
              });
          incoming.handleWith(guarded, materializer);
        }))
        .run(materializer)
        .thenApply(binding -> new PekkoBinding(binding, connections));
  }

  private CompletionStage<HttpResponse> open(HttpRequest request) {
    return handshake.open(new View(request), Handshake.Kind.WEBSOCKET, () -> new StageOutbox(node.settings(), node.metrics()))
        .thenApply(outcome -> {
          if (outcome instanceof Handshake.Refused r) {
            return Responses.refused(r);
          }
          Handshake.Admitted a = (Handshake.Admitted) outcome;
          SocketStage stage = new SocketStage(a.connection(), (StageOutbox) a.outbox(), a.gate(), node.metrics(),
              node.settings().limits().maxFrameBytes(), node.settings().keepAliveIdle(),
              node.settings().limits().closeHandshakeTimeout());
          return WebSocketStack.upgrade(request, org.apache.pekko.stream.scaladsl.Flow.fromGraph(stage));
        });
  }

  /** A pekko-http request as the handshake reads it. */
  record View(HttpRequest request) implements Handshake.Request {
    @Override
    public String header(String name) {
      return request.getHeader(name).map(HttpHeader::value).orElse(null);
    }

    @Override
    public List<String> headers(String name) {
      List<String> values = new ArrayList<>(1);
      for (HttpHeader h : request.getHeaders()) {
        if (h.is(name.toLowerCase(Locale.ROOT))) {
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

  private record PekkoBinding(Tcp.ServerBinding binding, SharedKillSwitch connections) implements Binding {
    @Override
    public InetSocketAddress localAddress() {
      return binding.localAddress();
    }

    @Override
    public CompletionStage<Void> unbind() {
      return binding.unbind().thenApply(done -> null);
    }

    /** Connections still open are ended (after the node has closed its sockets with 1012). */
    @Override
    public CompletionStage<Void> terminate(Duration deadline) {
      connections.shutdown();
      return CompletableFuture.completedFuture(null);
    }
  }
}

package lms.realtime.transport.pekkohttp;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import lms.realtime.config.Settings;
import lms.realtime.http.FallbackRoutes;
import lms.realtime.http.Responses;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.transport.fallback.FallbackEndpoints;
import lms.realtime.transport.fallback.HttpAnswer;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SystemMaterializer;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The HTTP fallback (contract §10) on the pekko-http transport, in the places {@link
 * lms.realtime.http.Routes} gives it: {@code GET /sse} (the shared {@link Handshake}, then an
 * {@link EventStreamStage} as the response's body, or the first long poll), {@code POST /sse/{id}},
 * {@code GET /sse/{id}/poll} and the preflights; what both transports share of it is
 * {@link FallbackEndpoints}. The streams' keep-alive comments come from one ticker per node, not a
 * timer per stream.
 */
final class PekkoFallback extends AllDirectives implements FallbackRoutes {
  private static final ContentType EVENT_STREAM = ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM);

  private final NodeContext node;
  private final Handshake handshake;
  private final FallbackEndpoints endpoints;
  private final Materializer materializer;
  private final Set<StreamOutbox> streams = ConcurrentHashMap.newKeySet();

  PekkoFallback(NodeContext node, Handshake handshake) {
    this.node = node;
    this.handshake = handshake;
    this.endpoints = new FallbackEndpoints(node, handshake);
    this.materializer = SystemMaterializer.get(node.system()).materializer();
    Duration keepAlive = node.settings().fallback().keepAlive();
    if (!keepAlive.isZero()) {
      node.system().scheduler().scheduleWithFixedDelay(keepAlive, keepAlive, () -> streams.forEach(StreamOutbox::keepAlive),
          node.system().executionContext());
    }
  }

  @Override
  public Route open(Optional<String> mode) {
    return extractRequest(request -> completeWithFuture(open(request, Handshake.Kind.ofMode(mode.orElse(null)))));
  }

  private CompletionStage<HttpResponse> open(HttpRequest request, Handshake.Kind kind) {
    Settings settings = node.settings();
    String origin = header(request, "Origin");
    String host = header(request, "Host");
    CompletableFuture<HttpResponse> response = new CompletableFuture<>();
    handshake.open(new PekkoHttpTransport.View(request), kind,
            () -> kind == Handshake.Kind.POLL ? endpoints.newPollOutbox() : new StreamOutbox(settings, node.metrics()))
        .whenComplete((outcome, failure) -> {
          if (failure != null) {
            response.completeExceptionally(failure);
          } else if (outcome instanceof Handshake.Refused refused) {
            response.complete(toPekko(endpoints.refused(refused, origin, host)));
          } else {
            Handshake.Admitted admitted = (Handshake.Admitted) outcome;
            endpoints.admitted(admitted, origin, host, first -> response.complete(toPekko(first)));
            if (admitted.outbox() instanceof StreamOutbox stream) {
              response.complete(stream(admitted, stream, origin, host));
            }
          }
        });
    return response;
  }

  /** The 200 whose body is the stream, as long as it lasts. */
  private HttpResponse stream(Handshake.Admitted admitted, StreamOutbox outbox, String origin, String host) {
    Source<org.apache.pekko.util.ByteString, ?> events = Source.fromGraph(new EventStreamStage(admitted.connection(), outbox, streams));
    return HttpResponse.create()
        .withStatus(StatusCodes.OK)
        .addHeaders(headers(endpoints.streamHeaders(origin, host)))
        .withEntity(HttpEntities.createCloseDelimited(EVENT_STREAM, events));
  }

  @Override
  public Route post(String connectionId) {
    int max = node.settings().fallback().maxPostBytes();
    long timeout = node.settings().internals().routeResponseTimeout().toMillis();
    return extractRequest(request -> {
      String origin = header(request, "Origin");
      String host = header(request, "Host");
      // a declared length over the bound is refused before reading; a chunked body, as it passes it
      if (request.entity().getContentLengthOption().orElse(0L) > max) {
        return complete(toPekko(endpoints.tooLarge(origin, host)));
      }
      return completeWithFuture(request.entity().toStrict(timeout, max, materializer)
          .thenApply(body -> toPekko(endpoints.post(connectionId, header(request, "Authorization"), origin, host,
              body.getData().utf8String())))
          .exceptionally(failure -> {
            if (Responses.isTooLarge(failure)) {
              return toPekko(endpoints.tooLarge(origin, host));
            }
            throw failure instanceof CompletionException c ? c : new CompletionException(failure);
          }));
    });
  }

  @Override
  public Route poll(String connectionId, Optional<String> key, Optional<String> from) {
    // a poll waits up to lms.fallback.poll-wait, beyond pekko-http's request timeout
    Duration wait = node.settings().fallback().pollWait().plus(node.settings().http().askTimeout());
    return withRequestTimeout(wait, () -> extractRequest(request -> {
      CompletableFuture<HttpResponse> response = new CompletableFuture<>();
      endpoints.poll(connectionId, key.orElse(null), from.orElse(null), header(request, "Origin"), header(request, "Host"),
          polled -> response.complete(toPekko(polled)));
      return completeWithFuture(response);
    }));
  }

  @Override
  public Route preflight() {
    return extractRequest(request -> complete(toPekko(endpoints.preflight(header(request, "Origin"), header(request, "Host")))));
  }

  private static HttpResponse toPekko(HttpAnswer answer) {
    HttpResponse response = HttpResponse.create()
        .withStatus(StatusCodes.get(answer.status()))
        .addHeaders(headers(answer.headers()));
    return answer.contentType() == null ? response
        : response.withEntity(HttpAnswer.JSON.equals(answer.contentType()) ? ContentTypes.APPLICATION_JSON
            : ContentTypes.parse(answer.contentType()), answer.body());
  }

  private static List<HttpHeader> headers(List<HttpAnswer.Header> headers) {
    return headers.stream().map(h -> (HttpHeader) RawHeader.create(h.name(), h.value())).toList();
  }

  private static String header(HttpRequest request, String name) {
    return request.getHeader(name).map(HttpHeader::value).orElse(null);
  }
}

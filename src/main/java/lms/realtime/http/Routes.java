package lms.realtime.http;

import java.util.concurrent.atomic.AtomicBoolean;
import lms.realtime.session.NodeContext;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.HttpCharsets;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * Every route of a node, written once in pekko-http's DSL. The pekko-http transport binds them; the
 * netty transport calls them as a function ({@code route().seal().handler(system)}). {@code GET /ws}
 * is the transport's own: {@code webSocket} answers it; so are the HTTP fallback's {@code /sse}
 * paths ({@code fallback}).
 */
public final class Routes extends AllDirectives {
  private static final ContentType.WithCharset PROMETHEUS =
      MediaTypes.TEXT_PLAIN.toContentType(HttpCharsets.UTF_8);
  private static final ContentType.WithCharset YAML =
      MediaTypes.applicationWithOpenCharset("yaml", "yaml").toContentType(HttpCharsets.UTF_8);
  /** The client's declarations: pekko-http knows no media type for {@code .d.ts}; this is what CDNs serve. */
  private static final ContentType.WithCharset TYPESCRIPT =
      MediaTypes.applicationWithOpenCharset("typescript", "ts").toContentType(HttpCharsets.UTF_8);

  private final NodeContext node;
  private final AtomicBoolean ready;
  private final Route webSocket;
  private final FallbackRoutes fallback;
  private final ServiceAuth serviceAuth;
  private final Publishing publishing;
  private final BackendApi backendApi;
  private final DemoRoutes demo;

  public Routes(NodeContext node, AtomicBoolean ready, Route webSocket, FallbackRoutes fallback) {
    this.node = node;
    this.ready = ready;
    this.webSocket = webSocket;
    this.fallback = fallback;
    this.serviceAuth = new ServiceAuth(node.verifier());
    this.publishing = new Publishing(node);
    this.backendApi = new BackendApi(node, serviceAuth, publishing);
    this.demo = node.isDemo() ? new DemoRoutes(node) : null;
  }

  /** The backend's writes as the routes answer them, for a transport that calls them without the route (netty). */
  public Publishing publishing() {
    return publishing;
  }

  public ServiceAuth serviceAuth() {
    return serviceAuth;
  }

  /**
   * Bound, sharding answering, and this node a member that is Up (not joining, leaving or down):
   * whether this node takes traffic. Not whether the durable rooms' database answers: a database
   * outage is every node's at once, and taking them all out of service would refuse memory rooms and
   * new sockets too, which do not need it. It is said in the body instead ({@link #readiness}).
   */
  private boolean isReady() {
    return ready.get() && Cluster.get(node.system()).selfMember().status() == MemberStatus.up();
  }

  /** 200 or 503 for this node; {@code journal}, when it has durable rooms, says whether their database answers. */
  private HttpResponse readiness() {
    String journal = node.settings().durable().any()
        ? ",\"journal\":\"" + (node.journalUp().getAsBoolean() ? "up" : "down") + "\""
        : "";
    return isReady()
        ? Responses.json(StatusCodes.OK, "{\"status\":\"ready\"" + journal + "}")
        : Responses.json(StatusCodes.SERVICE_UNAVAILABLE, "{\"status\":\"not_ready\"" + journal + "}");
  }

  public Route route() {
    Route core = concat(
        path("ws", () -> get(() -> webSocket)),
        // the HTTP fallback (contract §10): a stream (or long polls) out, POSTs in
        pathPrefix("sse", () -> concat(
            pathEnd(() -> concat(
                get(() -> parameterOptional("mode", fallback::open)),
                options(fallback::preflight))),
            pathPrefix(connectionId -> concat(
                pathEnd(() -> concat(
                    post(() -> fallback.post(connectionId)),
                    options(fallback::preflight))),
                path("poll", () -> concat(
                    get(() -> parameterOptional("key", key -> parameterOptional("from", from -> fallback.poll(connectionId, key, from)))),
                    options(fallback::preflight))))))),
        pathPrefix("api", () -> pathPrefix("v1", backendApi::route)),
        pathPrefix("health", () -> concat(
            path("live", () -> get(() -> complete(Responses.json(StatusCodes.OK, "{\"status\":\"alive\"}")))),
            path("ready", () -> get(() -> complete(readiness()))))),
        path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(PROMETHEUS, node.metrics().scrape())))),
        // The client is an ES module: pages on other origins import it, which needs CORS.
        pathPrefix("sdk", () -> respondWithHeader(RawHeader.create("Access-Control-Allow-Origin", "*"),
            () -> concat(
                path("lms-realtime.d.ts", () -> getFromResource("web/sdk/lms-realtime.d.ts", TYPESCRIPT)),
                getFromResourceDirectory("web/sdk")))),
        // The API documents (OpenAPI 3.1, AsyncAPI 3.0; contract §9), without auth, for tools too.
        pathPrefix("docs", () -> respondWithHeader(RawHeader.create("Access-Control-Allow-Origin", "*"),
            () -> concat(
                path("openapi.yaml", () -> getFromResource("web/docs/openapi.yaml", YAML)),
                path("asyncapi.yaml", () -> getFromResource("web/docs/asyncapi.yaml", YAML))))));
    Route all = demo == null ? core : concat(core, demo.route());
    // a body over pekko.http.server.parsing.max-content-length (lms.http.max-batch-bytes) is the
    // client's: 413 in the contract's shape. A route that throws otherwise is a bug: answered 500
    // like BackendApi's failures, logged, counted
    return handleExceptions(ExceptionHandler.newBuilder()
        .match(EntityStreamSizeException.class, e -> complete(ApiError.tooLarge(413, "a body is at most " + e.limit() + " bytes").response()))
        .matchAny(e -> complete(backendApi.failed(e))).build(), () -> all);
  }
}

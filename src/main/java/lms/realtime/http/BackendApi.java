package lms.realtime.http;

import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import lms.realtime.session.NodeContext;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.MalformedQueryParamRejection;
import org.apache.pekko.http.javadsl.server.Rejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The platform's calls into the engine (contract §6), authorised by a token with the {@code service}
 * role. Every body is checked whole before anything happens: a bad one is a 400 and changes nothing.
 * The reads and removals are {@link RoomsApi}'s and {@link UsersApi}'s, the writes {@link Publishing}'s.
 *
 * <p>Every error of these routes is an {@link ApiError}: those the calls answer themselves, a query
 * parameter the unmarshallers refuse (400, {@link #rejections}), a path or method that is no call
 * (404), and a call whose answer failed ({@link #failed}, which {@link Routes}' exception handler
 * answers: an ask that fails, fails the route's {@code onSuccess}).
 */
final class BackendApi extends AllDirectives {
  private final NodeContext node;
  private final ServiceAuth auth;
  private final Publishing publishing;
  private final RoomsApi rooms;
  private final UsersApi users;
  private final StreamQuery query = new StreamQuery();

  BackendApi(NodeContext node, ServiceAuth auth, Publishing publishing) {
    this.node = node;
    this.auth = auth;
    this.publishing = publishing;
    this.rooms = new RoomsApi(node);
    this.users = new UsersApi(node);
  }

  /**
   * A query parameter refused by its unmarshaller is the contract's 400 with the unmarshaller's
   * message; any other rejection (no such path, a method a path does not answer) is a 404.
   */
  private final RejectionHandler rejections = RejectionHandler.newBuilder()
      .handle(MalformedQueryParamRejection.class, r -> complete(ApiError.badRequest(r.errorMsg()).response()))
      .handleAll(Rejection.class, all -> complete(ApiError.notFound("no such API call").response()))
      .handleNotFound(complete(ApiError.notFound("no such API call").response()))
      .build();

  /** Routes below {@code /api/v1}. */
  Route route() {
    return extractRequest(request -> {
      ApiError denied = auth.refusal(request.getHeader("Authorization").map(h -> h.value()).orElse(null));
      if (denied != null) {
        return complete(denied.response());
      }
      // One representation, JSON in UTF-8, whatever Accept and Accept-Charset say, as before the
      // answers went through a marshaller (which would negotiate: JSON counts as text there, so a
      // client accepting only text/html, or only iso-8859-1, would be refused).
      return mapRequest(r -> r.removeHeader("Accept").removeHeader("Accept-Charset"), () -> handleRejections(rejections, () -> concat(
          pathPrefix("rooms", () -> pathPrefix(room -> concat(
              path("events", () -> concat(
                  post(() -> body(false, b -> completeWithFuture(answer(publishing.event(room, b))))),
                  get(() -> query.once(List.of("since", "limit"), () -> parameterOptional(StreamQuery.SINCE, "since", since ->
                      parameterOptional(StreamQuery.LIMIT, "limit", limit -> rooms.events(room, since, limit))))))),
              path("presence", () -> get(() -> rooms.presence(room))),
              pathPrefix("members", () -> path(userId -> delete(() -> rooms.removeMember(room, userId))))))),
          pathPrefix("users", () -> pathPrefix(userId -> concat(
              path("notifications", () -> concat(
                  post(() -> body(false, b -> completeWithFuture(answer(publishing.notification(userId, b))))),
                  get(() -> query.once(List.of("since"), () -> parameterOptional(StreamQuery.SINCE, "since", since ->
                      users.inbox(userId, since)))))),
              path("presence", () -> get(() -> users.presence(userId)))))),
          path("batch", () -> post(() -> body(true, b -> completeWithFuture(answer(publishing.batch(b)))))))));
    });
  }

  /** A write's answer: its text is {@link Publishing}'s, the same bytes the netty transport sends. */
  private static CompletionStage<HttpResponse> answer(CompletionStage<Publishing.Result> result) {
    return result.thenApply(r -> Responses.json(StatusCodes.get(r.status()), r.body()));
  }

  /**
   * The request's body as text, read up to its bound: {@code lms.http.max-batch-bytes} for a batch
   * (over it: 413), {@code lms.http.max-body-bytes} otherwise (over it: 400), both {@code too_large},
   * as the netty transport answers them.
   */
  private Route body(boolean batch, Function<String, Route> inner) {
    int max = batch ? node.settings().http().maxBatchBytes() : node.settings().http().maxBodyBytes();
    long timeout = node.settings().internals().routeResponseTimeout().toMillis();
    HttpResponse tooLarge = ApiError.tooLarge(batch ? 413 : 400,
        (batch ? "a batch body is at most " : "body larger than ") + max + " bytes").response();
    return extractRequestEntity(entity -> {
      // a declared length over the bound is refused before reading; a chunked body, as it passes it
      if (entity.getContentLengthOption().orElse(0L) > max) {
        return complete(tooLarge);
      }
      return extractMaterializer(mat -> onComplete(entity.withSizeLimit(max).toStrict(timeout, mat), read -> read.isSuccess()
          ? inner.apply(read.get().getData().utf8String())
          : complete(Responses.isTooLarge(read.failed().get()) ? tooLarge
              : ApiError.badRequest("the body could not be read: " + read.failed().get().getMessage()).response())));
    });
  }

  /** A request whose answer failed: 503 for a timeout, 500 for a bug ({@link Publishing#failed}). */
  HttpResponse failed(Throwable failure) {
    return publishing.failed(failure).response();
  }
}

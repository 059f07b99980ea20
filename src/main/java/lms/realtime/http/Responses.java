package lms.realtime.http;

import lms.realtime.protocol.Json;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/** JSON answers of the HTTP layer. */
final class Responses {
  private Responses() {}

  static HttpResponse json(StatusCode status, String body) {
    return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, body);
  }

  static HttpResponse error(StatusCode status, String error, String message) {
    return json(status, "{\"error\":" + Json.quote(error) + (message == null ? "" : ",\"message\":" + Json.quote(message)) + "}");
  }

  static HttpResponse badRequest(String message) {
    return error(StatusCodes.BAD_REQUEST, "bad_request", message);
  }

  static HttpResponse tooManyConnections(int retryAfterSeconds, String message) {
    return error(StatusCodes.TOO_MANY_REQUESTS, "too_many_connections", message)
        .addHeader(RawHeader.create("Retry-After", Integer.toString(retryAfterSeconds)));
  }

  static HttpResponse unavailable(String message) {
    return error(StatusCodes.SERVICE_UNAVAILABLE, "unavailable", message);
  }
}

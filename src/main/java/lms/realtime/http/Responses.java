package lms.realtime.http;

import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.session.Handshake;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;

/** JSON answers of the HTTP layer. */
public final class Responses {
  private Responses() {}

  static HttpResponse json(StatusCode status, String body) {
    return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, body);
  }

  static HttpResponse error(StatusCode status, String error, String message) {
    return json(status, Json.errorBody(error, message));
  }

  static HttpResponse badRequest(String message) {
    return error(StatusCodes.BAD_REQUEST, ErrorCodes.BAD_REQUEST, message);
  }

  /** A handshake's refusal, as the contract words it. */
  /** Whether reading a body failed for its size (pekko-http's exception, however it is wrapped). */
  public static boolean isTooLarge(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof EntityStreamSizeException) {
        return true;
      }
    }
    return false;
  }

  public static HttpResponse refused(Handshake.Refused refused) {
    HttpResponse response = json(StatusCodes.get(refused.status()), refused.body());
    return refused.retryAfterSeconds() > 0
        ? response.addHeader(RawHeader.create("Retry-After", Integer.toString(refused.retryAfterSeconds())))
        : response;
  }

  static HttpResponse unavailable(String message) {
    return error(StatusCodes.SERVICE_UNAVAILABLE, ErrorCodes.UNAVAILABLE, message);
  }
}

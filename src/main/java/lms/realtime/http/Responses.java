package lms.realtime.http;

import lms.realtime.protocol.Json;
import lms.realtime.session.Handshake;
import org.apache.pekko.http.javadsl.marshallers.jackson.Jackson;
import org.apache.pekko.http.javadsl.marshalling.Marshaller;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RequestEntity;
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

  /**
   * The answer bodies of the API (records) as JSON: pekko-http's Jackson marshaller on the engine's
   * writing mapper. A record that carries frames the engine already wrote holds them as
   * {@link RawJson}, copied, not parsed and written again.
   */
  static final Marshaller<Object, RequestEntity> JSON = Jackson.marshaller(Json.MAPPER);

  /** Whether reading a body failed for its size (pekko-http's exception, however it is wrapped). */
  public static boolean isTooLarge(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof EntityStreamSizeException) {
        return true;
      }
    }
    return false;
  }

  /** A handshake's refusal, as the contract words it. */
  public static HttpResponse refused(Handshake.Refused refused) {
    HttpResponse response = json(StatusCodes.get(refused.status()), refused.body());
    return refused.retryAfterSeconds() > 0
        ? response.addHeader(RawHeader.create("Retry-After", Integer.toString(refused.retryAfterSeconds())))
        : response;
  }
}

package lms.realtime.http;

import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * An error answer of the HTTP API: its status and the contract's {@code {"error": code, "message":
 * text}} (§6). Every error the routes and the backend's writes answer is one of these and is rendered
 * here only: {@link #body()} for the text (the netty transport's writes, a batch item), and
 * {@link #response()} for the routes. The factories pair each code with its status.
 */
public record ApiError(int status, String error, String message) {

  public static ApiError badRequest(String message) {
    return new ApiError(400, ErrorCodes.BAD_REQUEST, message);
  }

  /** A body over its bound: 400 for a single call, 413 for a batch (and a body past pekko's parsing bound). */
  static ApiError tooLarge(int status, String message) {
    return new ApiError(status, ErrorCodes.TOO_LARGE, message);
  }

  static ApiError unauthorized(String message) {
    return new ApiError(401, ErrorCodes.UNAUTHORIZED, message);
  }

  static ApiError forbidden(String message) {
    return new ApiError(403, ErrorCodes.FORBIDDEN, message);
  }

  static ApiError notFound(String message) {
    return new ApiError(404, ErrorCodes.NOT_FOUND, message);
  }

  /** Something this call needs did not answer (a journal's database, an entity in time): nothing was applied; retry. */
  static ApiError unavailable(String message) {
    return new ApiError(503, ErrorCodes.UNAVAILABLE, message);
  }

  static ApiError internal(String message) {
    return new ApiError(500, ErrorCodes.INTERNAL, message);
  }

  /** The JSON body ({@link Json#errorBody}). */
  public String body() {
    return Json.errorBody(error, message);
  }

  /** The whole answer, as the routes complete with it. */
  public HttpResponse response() {
    return Responses.json(StatusCodes.get(status), body());
  }
}

package lms.realtime.transport.fallback;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import lms.realtime.protocol.Json;

/**
 * An answer of the fallback's endpoints, as both transports write it: a status, a body (empty, or
 * of {@code contentType}) and headers.
 */
public record HttpAnswer(int status, String contentType, byte[] body, List<Header> headers) {
  public static final String JSON = "application/json";

  public record Header(String name, String value) {}

  static HttpAnswer json(int status, String json, List<Header> headers) {
    return new HttpAnswer(status, JSON, json.getBytes(StandardCharsets.UTF_8), headers);
  }

  static HttpAnswer error(int status, String error, String message, List<Header> headers) {
    return json(status, Json.errorBody(error, message), headers);
  }

  static HttpAnswer empty(int status, List<Header> headers) {
    return new HttpAnswer(status, null, new byte[0], headers);
  }

  /** The same answer with one more header. */
  HttpAnswer with(String name, String value) {
    List<Header> more = new ArrayList<>(headers.size() + 1);
    more.addAll(headers);
    more.add(new Header(name, value));
    return new HttpAnswer(status, contentType, body, more);
  }
}

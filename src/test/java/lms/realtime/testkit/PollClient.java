package lms.realtime.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A real client of the HTTP fallback's long-poll mode (contract §10, {@code GET /sse?mode=poll}),
 * on java.net.http: the first answer's frames, then each poll of the {@code Lms-Poll-Url} the last
 * answer named; frames go out as POSTs, as on a stream.
 */
public final class PollClient {
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  public final int port;
  /** The first answer's frames, welcome first. */
  public final List<JsonNode> first;
  public final JsonNode welcome;
  private String pollUrl;

  private PollClient(int port, List<JsonNode> first, String pollUrl) {
    this.port = port;
    this.first = first;
    this.welcome = first.get(0);
    this.pollUrl = pollUrl;
  }

  /** {@code GET /sse?mode=poll&token=...}; fails unless it is answered 200 with the welcome first. */
  public static PollClient open(int port, String token) {
    HttpResponse<String> r = get(port, "/sse?mode=poll&token=" + token, Map.of());
    if (r.statusCode() != 200) {
      throw new AssertionError("GET /sse?mode=poll answered " + r.statusCode() + " " + r.body());
    }
    List<JsonNode> frames = frames(r);
    if (!"welcome".equals(frames.get(0).path("type").asText())) {
      throw new AssertionError("the first frame is not the welcome: " + r.body());
    }
    return new PollClient(port, frames, r.headers().firstValue("Lms-Poll-Url").orElseThrow());
  }

  public static HttpResponse<String> get(int port, String path, Map<String, String> headers) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(60));
    headers.forEach(b::header);
    try {
      return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public static List<JsonNode> frames(HttpResponse<String> r) {
    try {
      List<JsonNode> out = new ArrayList<>();
      WsClient.JSON.readTree(r.body()).forEach(out::add);
      return out;
    } catch (Exception e) {
      throw new AssertionError("not a JSON array: " + r.body());
    }
  }

  /** The URL the last answer named. */
  public String pollUrl() {
    return pollUrl;
  }

  /** Polls the last answer's URL; the answer's URL is the next one. */
  public HttpResponse<String> pollRaw() {
    HttpResponse<String> r = get(port, pollUrl, Map.of());
    r.headers().firstValue("Lms-Poll-Url").ifPresent(next -> pollUrl = next);
    return r;
  }

  /** One poll's frames (it must be answered 200). */
  public List<JsonNode> poll() {
    HttpResponse<String> r = pollRaw();
    if (r.statusCode() != 200) {
      throw new AssertionError("poll answered " + r.statusCode() + " " + r.body());
    }
    return frames(r);
  }

  /** Polls until a frame of this type comes (each poll waits up to the engine's poll-wait). */
  public JsonNode await(String type, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      for (JsonNode f : poll()) {
        if (type.equals(f.path("type").asText())) {
          return f;
        }
      }
    }
    throw new AssertionError("no '" + type + "' frame within " + timeout);
  }

  public HttpResponse<String> post(String body) {
    return SseClient.post(port, welcome.get("postUrl").asText(), body, welcome.get("postToken").asText(), Map.of());
  }

  public void send(String body) {
    HttpResponse<String> r = post(body);
    if (r.statusCode() != 204) {
      throw new AssertionError("POST answered " + r.statusCode() + " " + r.body());
    }
  }
}

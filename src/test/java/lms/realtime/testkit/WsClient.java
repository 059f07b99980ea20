package lms.realtime.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A real WebSocket client (JDK java.net.http) that records every frame and how the socket closed. */
public final class WsClient implements AutoCloseable {
  public static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  public static final Duration WAIT = Duration.ofSeconds(10);

  /** How the engine closed the socket. */
  public record Closed(int code, String reason) {}

  public final WebSocket socket;
  private final Listener listener;

  private WsClient(WebSocket socket, Listener listener) {
    this.socket = socket;
    this.listener = listener;
  }

  /** Opens a socket, or throws {@link HandshakeRefused} with the HTTP status and body. */
  public static WsClient connect(String url, Map<String, String> headers) {
    Listener listener = new Listener();
    WebSocket.Builder builder = HTTP.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
    headers.forEach(builder::header);
    try {
      WebSocket ws = builder.buildAsync(URI.create(url), listener).get(15, TimeUnit.SECONDS);
      return new WsClient(ws, listener);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof WebSocketHandshakeException h) {
        throw new HandshakeRefused(h.getResponse().statusCode(), String.valueOf(h.getResponse().body()),
            h.getResponse().headers().firstValue("Retry-After").orElse(null));
      }
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public static final class HandshakeRefused extends RuntimeException {
    public final int status;
    public final String body;
    public final String retryAfter;

    HandshakeRefused(int status, String body, String retryAfter) {
      super("handshake refused: " + status + " " + body);
      this.status = status;
      this.body = body;
      this.retryAfter = retryAfter;
    }
  }

  public void send(String text) {
    socket.sendText(text, true).join();
  }

  public void sendJson(String json) {
    send(json);
  }

  public void sendBinary(byte[] bytes) {
    socket.sendBinary(ByteBuffer.wrap(bytes), true).join();
  }

  /** The next frame as text, or null if none comes in time. */
  public String nextRaw(Duration timeout) {
    try {
      return listener.frames.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The next frame; fails if none comes. */
  public JsonNode next() {
    String raw = nextRaw(WAIT);
    if (raw == null) {
      throw new AssertionError("no frame within " + WAIT + (closed().isDone() ? "; closed: " + closed().join() : ""));
    }
    try {
      return JSON.readTree(raw);
    } catch (Exception e) {
      throw new AssertionError("not JSON: " + raw);
    }
  }

  /** The next frame, which must have this type. */
  public JsonNode expect(String type) {
    JsonNode frame = next();
    if (!type.equals(frame.path("type").asText())) {
      throw new AssertionError("expected a '" + type + "' frame, got " + frame);
    }
    return frame;
  }

  /** Skips frames until one of this type arrives. */
  public JsonNode await(String type) {
    return await(type, WAIT);
  }

  public JsonNode await(String type, Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    while (System.nanoTime() < deadline) {
      String raw = nextRaw(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
      if (raw == null) {
        break;
      }
      try {
        JsonNode frame = JSON.readTree(raw);
        if (type.equals(frame.path("type").asText())) {
          return frame;
        }
      } catch (Exception e) {
        throw new AssertionError("not JSON: " + raw);
      }
    }
    throw new AssertionError("no '" + type + "' frame within " + wait);
  }

  /** Asserts that nothing arrives for a while. */
  public void expectNothing(Duration quiet) {
    String raw = nextRaw(quiet);
    if (raw != null) {
      throw new AssertionError("expected no frame, got " + raw);
    }
  }

  /** Drains every frame queued so far. */
  public List<String> drain() {
    List<String> out = new ArrayList<>();
    listener.frames.drainTo(out);
    return out;
  }

  public CompletableFuture<Closed> closed() {
    return listener.closed;
  }

  public Closed awaitClose(Duration timeout) {
    try {
      return listener.closed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      throw new AssertionError("socket not closed within " + timeout);
    }
  }

  /** Stops reading: frames pile up in TCP buffers and then in the engine's queue. */
  public void pause() {
    listener.paused = true;
  }

  public void resume() {
    listener.paused = false;
    socket.request(1);
  }

  /** The join answer for a room; sends {@code join} and waits for {@code joined}. */
  public JsonNode join(String room) {
    send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"j-" + room + "\"}");
    return expect("joined");
  }

  @Override
  public void close() {
    if (!socket.isOutputClosed()) {
      try {
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
      } catch (Exception ignored) {
        // already closing
      }
    }
    socket.abort();
  }

  private static final class Listener implements WebSocket.Listener {
    final LinkedBlockingQueue<String> frames = new LinkedBlockingQueue<>();
    final CompletableFuture<Closed> closed = new CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();
    volatile boolean paused;

    @Override
    public void onOpen(WebSocket webSocket) {
      webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        frames.add(partial.toString());
        partial.setLength(0);
      }
      if (!paused) {
        webSocket.request(1);
      }
      return null;
    }

    @Override
    public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
      frames.add("<binary>");
      webSocket.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
      closed.complete(new Closed(statusCode, reason));
      return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
      closed.complete(new Closed(-1, String.valueOf(error)));
    }
  }
}

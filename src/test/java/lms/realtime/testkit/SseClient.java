package lms.realtime.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real client of the HTTP fallback's event stream (contract §10) on a raw TCP socket: it sends
 * {@code GET /sse} as given, reads the answer's head, then parses the body as Server-Sent Events
 * (data lines, comment lines, a blank line ending each event) on a thread of its own. It POSTs
 * frames to the welcome's {@code postUrl} with its {@code postToken} (java.net.http), and can stop
 * reading, so that the engine sees a slow reader.
 */
public final class SseClient implements AutoCloseable {
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  public final int port;
  public final int status;
  /** The answer's headers, names in lower case. */
  public final Map<String, String> headers;
  /** The body of an answer that is not a stream (a refusal), or null. */
  public final String body;
  private final Socket socket;
  private final LinkedBlockingQueue<String> events = new LinkedBlockingQueue<>();
  private final AtomicInteger comments = new AtomicInteger();
  private final CompletableFuture<Void> ended = new CompletableFuture<>();
  private final Object pauseLock = new Object();
  private boolean paused;
  private JsonNode welcome;

  private SseClient(int port, Socket socket, int status, Map<String, String> headers, String body) {
    this.port = port;
    this.socket = socket;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** {@code GET /sse?token=...}: a stream past its welcome; fails when it is refused. */
  public static SseClient open(int port, String token) {
    return open(port, token, 0);
  }

  /** As {@link #open(int, String)}, with a kernel receive buffer this small (> 0): see {@link #connect(int, String, Map, int)}. */
  public static SseClient open(int port, String token, int receiveBuffer) {
    SseClient c = connect(port, "/sse?token=" + token, Map.of(), receiveBuffer);
    if (c.status != 200) {
      throw new AssertionError("GET /sse answered " + c.status + " " + c.body);
    }
    c.welcome = c.expect("welcome");
    return c;
  }

  /** Sends {@code GET target} with these headers; reads the head, and the body unless it is a stream. */
  public static SseClient connect(int port, String target, Map<String, String> headers) {
    return connect(port, target, headers, 0);
  }

  /** With {@code receiveBuffer} > 0 the kernel's receive buffer (the TCP window the engine sees) is that small. */
  public static SseClient connect(int port, String target, Map<String, String> headers, int receiveBuffer) {
    try {
      Socket socket = new Socket();
      if (receiveBuffer > 0) {
        socket.setReceiveBufferSize(receiveBuffer);
      }
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      socket.setSoTimeout(15_000);
      StringBuilder request = new StringBuilder("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n");
      headers.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
      OutputStream out = socket.getOutputStream();
      out.write(request.append("\r\n").toString().getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = socket.getInputStream();
      String[] head = readHead(in).split("\r\n");
      int status = Integer.parseInt(head[0].split(" ")[1]);
      Map<String, String> names = new LinkedHashMap<>();
      for (int i = 1; i < head.length; i++) {
        int colon = head[i].indexOf(':');
        names.merge(head[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), head[i].substring(colon + 1).trim(), (a, b) -> a + ", " + b);
      }
      String body = null;
      if (status != 200) {
        byte[] bytes = new byte[Integer.parseInt(names.getOrDefault("content-length", "0"))];
        int n = 0;
        while (n < bytes.length) {
          int r = in.read(bytes, n, bytes.length - n);
          if (r < 0) {
            break;
          }
          n += r;
        }
        body = new String(bytes, 0, n, StandardCharsets.UTF_8);
      }
      SseClient client = new SseClient(port, socket, status, names, body);
      if (status == 200) {
        socket.setSoTimeout(0); // a stream may be quiet for long
        Thread reader = new Thread(() -> client.read(in), "sse-client");
        reader.setDaemon(true);
        reader.start();
      }
      return client;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    while (!b.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("the connection ended in the head: " + b.toString(StandardCharsets.ISO_8859_1));
      }
      b.write(c);
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  /** The body, line by line: {@code data:} lines make an event, a blank line ends it, {@code :} is a comment. */
  private void read(InputStream in) {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    StringBuilder data = new StringBuilder();
    byte[] buffer = new byte[512];
    try {
      while (true) {
        synchronized (pauseLock) {
          while (paused) {
            pauseLock.wait();
          }
        }
        int n = in.read(buffer);
        if (n < 0) {
          break;
        }
        for (int i = 0; i < n; i++) {
          if (buffer[i] != '\n') {
            line.write(buffer[i]);
            continue;
          }
          String text = line.toString(StandardCharsets.UTF_8);
          line.reset();
          if (text.isEmpty()) {
            if (data.length() > 0) {
              events.add(data.toString());
              data.setLength(0);
            }
          } else if (text.startsWith(":")) {
            comments.incrementAndGet();
          } else if (text.startsWith("data:")) {
            data.append(data.length() > 0 ? "\n" : "").append(text.substring(text.startsWith("data: ") ? 6 : 5));
          }
        }
      }
      ended.complete(null);
    } catch (IOException | InterruptedException e) {
      ended.completeExceptionally(e);
    }
  }

  public JsonNode welcome() {
    return welcome;
  }

  public String postUrl() {
    return welcome.get("postUrl").asText();
  }

  public String postToken() {
    return welcome.get("postToken").asText();
  }

  /** The next event's data, or null when none comes in time. */
  public String nextRaw(Duration timeout) {
    try {
      return events.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  public JsonNode next() {
    String raw = nextRaw(WsClient.WAIT);
    if (raw == null) {
      throw new AssertionError("no event within " + WsClient.WAIT + (ended.isDone() ? "; the stream has ended" : ""));
    }
    try {
      return WsClient.JSON.readTree(raw);
    } catch (IOException e) {
      throw new AssertionError("not JSON: " + raw);
    }
  }

  public JsonNode expect(String type) {
    JsonNode frame = next();
    if (!type.equals(frame.path("type").asText())) {
      throw new AssertionError("expected a '" + type + "' event, got " + frame);
    }
    return frame;
  }

  /** Skips events until one of this type comes. */
  public JsonNode await(String type) {
    long deadline = System.nanoTime() + WsClient.WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      String raw = nextRaw(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
      if (raw == null) {
        break;
      }
      try {
        JsonNode frame = WsClient.JSON.readTree(raw);
        if (type.equals(frame.path("type").asText())) {
          return frame;
        }
      } catch (IOException e) {
        throw new AssertionError("not JSON: " + raw);
      }
    }
    throw new AssertionError("no '" + type + "' event within " + WsClient.WAIT);
  }

  public void expectNothing(Duration quiet) {
    String raw = nextRaw(quiet);
    if (raw != null) {
      throw new AssertionError("expected no event, got " + raw);
    }
  }

  /** The comment lines (keep-alives) read so far. */
  public int comments() {
    return comments.get();
  }

  /** Waits until {@code condition} holds (checked every 20 ms); false when it did not within {@code timeout}. */
  public static boolean until(java.util.function.BooleanSupplier condition, Duration timeout) {
    try {
      Eventually.within(timeout, Duration.ofMillis(20), condition::getAsBoolean, holds -> holds);
      return true;
    } catch (AssertionError notWithin) {
      return false;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whether the stream has ended (the engine closed TCP), waiting up to {@code timeout}. */
  public boolean ends(Duration timeout) {
    try {
      ended.handle((v, e) -> null).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  /** The last event is {@code close}, and then the stream ends; returns the close event. */
  public JsonNode awaitClose(Duration timeout) {
    JsonNode close = null;
    long deadline = System.nanoTime() + timeout.toNanos();
    while (close == null && System.nanoTime() < deadline) {
      String raw = nextRaw(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
      if (raw != null && raw.startsWith("{\"type\":\"close\"")) {
        try {
          close = WsClient.JSON.readTree(raw);
        } catch (IOException e) {
          throw new AssertionError(raw);
        }
      }
    }
    if (close == null) {
      throw new AssertionError("no close event within " + timeout);
    }
    if (!ends(Duration.ofSeconds(10))) {
      throw new AssertionError("the stream goes on after its close event");
    }
    String after = nextRaw(Duration.ZERO);
    if (after != null) {
      throw new AssertionError("an event after the close: " + after);
    }
    return close;
  }

  /** Stops reading from the socket: events pile up in TCP's buffers, then in the engine's queue. */
  public void pause() {
    synchronized (pauseLock) {
      paused = true;
    }
  }

  public void resume() {
    synchronized (pauseLock) {
      paused = false;
      pauseLock.notifyAll();
    }
  }

  /** POSTs {@code body} to the postUrl with the post token. */
  public HttpResponse<String> post(String body) {
    return post(body, postToken());
  }

  /** POSTs {@code body} to the postUrl with {@code token} (null: no Authorization). */
  public HttpResponse<String> post(String body, String token) {
    return post(port, postUrl(), body, token, Map.of());
  }

  public static HttpResponse<String> post(int port, String path, String body, String token, Map<String, String> headers) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    headers.forEach(b::header);
    try {
      return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** POSTs and expects 204. */
  public void send(String frames) {
    HttpResponse<String> r = post(frames);
    if (r.statusCode() != 204) {
      throw new AssertionError("POST answered " + r.statusCode() + " " + r.body());
    }
  }

  /** Joins a room; returns its {@code joined}. */
  public JsonNode join(String room) {
    send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"j-" + room + "\"}");
    return await("joined");
  }

  @Override
  public void close() {
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }
}

package lms.realtime.testkit;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import lms.realtime.Node;

/** A real node bound on ephemeral ports (HTTP and cluster), with settings a test can override. */
public final class TestNode implements AutoCloseable {
  public final Node node;
  public final int port;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private TestNode(Node node) {
    this.node = node;
    this.port = node.httpPort();
  }

  public static TestNode start() {
    return start(Map.of());
  }

  /** Overrides are HOCON paths under the root, e.g. {@code lms.heartbeat-seconds}. */
  public static TestNode start(Map<String, Object> overrides) {
    return start(overrides, false);
  }

  public static TestNode start(Map<String, Object> overrides, boolean demo) {
    Config config = config(overrides);
    try {
      Node node = Node.start(config, demo).toCompletableFuture().get(30, TimeUnit.SECONDS);
      node.awaitReady(Duration.ofSeconds(30));
      System.out.println("test node on 127.0.0.1:" + node.httpPort() + ", transport " + node.context().settings().transport());
      return new TestNode(node);
    } catch (Exception e) {
      throw new IllegalStateException("node did not start", e);
    }
  }

  /**
   * A cluster of {@code n} nodes on loopback, on free ports, the first one the seed. A port found
   * free can be taken before its node binds it (another node's ephemeral HTTP port): then the
   * cluster is started again on other ports, up to three times.
   */
  public static java.util.List<TestNode> cluster(int n, Map<String, Object> overrides) {
    for (int attempt = 1; ; attempt++) {
      int[] ports = new int[n];
      for (int i = 0; i < n; i++) {
        ports[i] = freePort();
      }
      java.util.List<TestNode> nodes = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < n; i++) {
          Map<String, Object> o = new java.util.HashMap<>(overrides);
          // nodes in one JVM without a database they share keep every room in memory (Node refuses
          // durable rooms on a cluster without LMS_DB_URL)
          if (!o.containsKey("lms.durable.db.url")) {
            o.putIfAbsent("lms.durable.rooms", "");
          }
          o.put("lms.cluster.port", ports[i]);
          o.put("lms.cluster.seed-nodes", "127.0.0.1:" + ports[0]);
          nodes.add(start(o));
        }
        return nodes;
      } catch (IllegalStateException e) {
        nodes.forEach(TestNode::close);
        if (attempt == 3 || !String.valueOf(rootCause(e).getMessage()).contains("Address already in use")) {
          throw e;
        }
      }
    }
  }

  private static Throwable rootCause(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t;
  }

  /** A fresh directory for one node's embedded journal, under target/ (gone with {@code mvn clean}). */
  public static String dataDir() {
    try {
      java.nio.file.Path root = java.nio.file.Path.of("target", "test-data");
      java.nio.file.Files.createDirectories(root);
      return java.nio.file.Files.createTempDirectory(root, "node-").toAbsolutePath().toString();
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static int freePort() {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The transport the socket suites run on: {@code -Dlms.test.transport=pekko-http} (the second
   * surefire run in pom.xml), or the configured default.
   */
  public static String transport() {
    return System.getProperty("lms.test.transport", ConfigFactory.defaultApplication().resolve().getString("lms.transport"));
  }

  public static Config config(Map<String, Object> overrides) {
    ConfigFactory.invalidateCaches();
    // Resolved once, after the overrides, so that ${lms.cluster.port} and friends see them.
    return ConfigFactory.load(ConfigFactory.parseMap(overrides)
        .withFallback(ConfigFactory.parseMap(Map.of("lms.transport", transport())))
        .withFallback(ConfigFactory.parseMap(Map.of(
            "lms.http.host", "127.0.0.1",
            "lms.http.port", 0,
            "lms.cluster.port", 0,
            "lms.jwt.secret", Tokens.SECRET,
            "lms.durable.data-dir", dataDir(),
            "lms.allowed-origins", "http://localhost:8080,https://school.example")))
        .withFallback(ConfigFactory.defaultApplication()));
  }

  public String wsUrl() {
    return "ws://127.0.0.1:" + port + "/ws";
  }

  public String url(String path) {
    return "http://127.0.0.1:" + port + path;
  }

  public WsClient connect(String token) {
    return WsClient.connect(wsUrl() + "?token=" + token, Map.of());
  }

  /** A socket past its {@code welcome}. */
  public WsClient open(String token) {
    WsClient ws = connect(token);
    ws.expect("welcome");
    return ws;
  }

  /**
   * A socket in the slot a closed one held: the engine frees it when it has seen the close, and
   * answers 429 until then.
   */
  public WsClient connectOnceFreed(String token) throws Exception {
    return Eventually.within("a freed connection slot", Duration.ofSeconds(10), Duration.ofMillis(50), () -> {
      try {
        return connect(token);
      } catch (WsClient.HandshakeRefused stillHeld) {
        return null;
      }
    }, ws -> ws != null);
  }

  /** One series of this node's /metrics (named with its labels as printed), 0 when absent. */
  public double metric(String series) {
    Double value = Scrape.find(get("/metrics", null).body(), series);
    return value == null ? 0 : value;
  }

  public HttpResponse<String> get(String path, String bearer) {
    return send(HttpRequest.newBuilder(URI.create(url(path))).GET(), bearer);
  }

  public HttpResponse<String> post(String path, String bearer, String body) {
    return send(HttpRequest.newBuilder(URI.create(url(path)))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)), bearer);
  }

  public HttpResponse<String> delete(String path, String bearer) {
    return send(HttpRequest.newBuilder(URI.create(url(path))).DELETE(), bearer);
  }

  public HttpResponse<String> send(HttpRequest.Builder request, String bearer) {
    if (bearer != null) {
      request.header("Authorization", "Bearer " + bearer);
    }
    try {
      return http.send(request.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    try {
      node.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      node.system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}

package lms.realtime.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import lms.realtime.Main;

/**
 * Real node processes on loopback ({@code java -cp <test classpath> lms.realtime.Main}), each on
 * its own HTTP and cluster port, every one naming all as seeds: what a deploy runs, to kill -9,
 * SIGTERM and start again. Logs go to {@code target/<name>-node-<i>.log}.
 */
public final class ProcessCluster implements AutoCloseable {
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

  public final int[] httpPorts;
  public final int[] clusterPorts;
  /** Pekko Management's ports, used after {@link #withManagement}. */
  public final int[] managementPorts;
  public final Process[] processes;
  private boolean management;
  private final String name;
  private final Map<String, String> env;
  private final String service = Tokens.service();

  /** {@code env}: settings every node gets on top of the ports, seeds, secret and log level. */
  public ProcessCluster(int size, String name, Map<String, String> env) {
    this.httpPorts = new int[size];
    this.clusterPorts = new int[size];
    this.managementPorts = new int[size];
    this.processes = new Process[size];
    for (int i = 0; i < size; i++) {
      httpPorts[i] = TestNode.freePort();
      clusterPorts[i] = TestNode.freePort();
      managementPorts[i] = TestNode.freePort();
    }
    this.name = name;
    this.env = env;
  }

  public Process start(int i) throws Exception {
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    // the engine's own logging (LMS_LOG_LEVEL below), not the tests' logback-test.xml (WARN)
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xmx256m", "-Djava.util.concurrent.ForkJoinPool.common.parallelism=4",
        "-Dlogback.configurationFile=logback.xml",
        "-cp", System.getProperty("java.class.path"), Main.class.getName())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log(i).toFile()));
    Map<String, String> e = pb.environment();
    e.put("LMS_HTTP_HOST", "127.0.0.1");
    e.put("LMS_HTTP_PORT", Integer.toString(httpPorts[i]));
    e.put("LMS_CLUSTER_PORT", Integer.toString(clusterPorts[i]));
    // every node names every seed: a restarted first seed then joins the others instead of forming a cluster of its own
    StringBuilder seeds = new StringBuilder();
    for (int port : clusterPorts) {
      seeds.append(seeds.length() == 0 ? "" : ",").append("127.0.0.1:").append(port);
    }
    e.put("LMS_SEED_NODES", seeds.toString());
    e.put("LMS_JWT_SECRET", Tokens.SECRET);
    e.put("LMS_LOG_LEVEL", "INFO");
    if (management) {
      e.put("LMS_MANAGEMENT_PORT", Integer.toString(managementPorts[i]));
    }
    e.putAll(env);
    processes[i] = pb.start();
    return processes[i];
  }

  /** Nodes started from now on run Pekko Management's cluster HTTP API (for {@link #oldest}). */
  public ProcessCluster withManagement() {
    management = true;
    return this;
  }

  /**
   * The oldest member, as node {@code asked} sees it (Pekko Management): the one that hosts the
   * cluster singletons, the sharding coordinators among them.
   */
  public int oldest(int asked) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPorts[asked] + "/cluster/members"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    String oldest = WsClient.JSON.readTree(r.body()).path("oldest").asText();
    for (int i = 0; i < clusterPorts.length; i++) {
      if (oldest.endsWith(":" + clusterPorts[i])) {
        return i;
      }
    }
    throw new IllegalStateException("no oldest member in " + r.body());
  }

  /** Node {@code i}'s log (stdout and stderr, appended over its starts). */
  public Path log(int i) {
    return Path.of("target", name + "-node-" + i + ".log");
  }

  /** The nodes but {@code i}. */
  public int[] others(int i) {
    return java.util.stream.IntStream.range(0, processes.length).filter(k -> k != i).toArray();
  }

  public String url(int i, String path) {
    return "http://127.0.0.1:" + httpPorts[i] + path;
  }

  public void awaitReady(int i) throws Exception {
    awaitReady(url(i, "/health/ready"), Duration.ofSeconds(90));
  }

  /** Until a node's {@code /health/ready} ({@code readyUrl}) answers 200: it takes traffic. */
  public static void awaitReady(String readyUrl, Duration within) throws Exception {
    Eventually.within(readyUrl + " answering 200", within, Duration.ofMillis(100), () -> {
      try {
        return HTTP.send(HttpRequest.newBuilder(URI.create(readyUrl)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
      } catch (java.io.IOException starting) {
        return -1;
      }
    }, status -> status == 200);
  }

  /** The nodes, started together, then each awaited until it reports ready. */
  public void startAllAndAwaitReady() throws Exception {
    for (int i = 0; i < processes.length; i++) {
      start(i);
    }
    for (int i = 0; i < processes.length; i++) {
      awaitReady(i);
    }
  }

  /** A backend call (service token) to node {@code i}; null when the node does not answer. */
  public HttpResponse<String> call(int i, String method, String path, String body) {
    try {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(i, path))).timeout(Duration.ofSeconds(10))
          .header("Authorization", "Bearer " + service).header("Content-Type", "application/json");
      b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(body));
      return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      return null; // node down or mid-restart
    }
  }

  /** A backend call through the first node in {@code order} that answers 2xx, retrying for a while. */
  public JsonNode reliably(int[] order, String method, String path, String body) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
    while (System.nanoTime() < deadline) {
      for (int i : order) {
        HttpResponse<String> r = call(i, method, path, body);
        if (r != null && r.statusCode() / 100 == 2) {
          return WsClient.JSON.readTree(r.body());
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError(method + " " + path + " failed on every node for 40 s");
  }

  /**
   * A room {@code course:{from}..} that lives on node {@code target}: rooms are created by a publish
   * through node {@code via} until one made that node's {@code lms_rooms_active} go up.
   */
  public String roomOn(int target, int via, int from) throws Exception {
    for (int k = from; k < from + 100; k++) {
      double before = roomsActive(target);
      String room = "course:" + k;
      reliably(new int[] {via}, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"first\"}");
      if (roomsActive(target) > before) {
        return room;
      }
    }
    throw new AssertionError("no room landed on node " + target);
  }

  double roomsActive(int i) {
    HttpResponse<String> r = call(i, "GET", "/metrics", null);
    Double v = r == null ? null : Scrape.find(r.body(), "lms_rooms_active");
    return v == null ? 0 : v;
  }

  /** A socket to node {@code i}, past its welcome. */
  public WsClient connect(int i, String token) {
    WsClient ws = WsClient.connect("ws://127.0.0.1:" + httpPorts[i] + "/ws?token=" + token, Map.of());
    ws.expect("welcome");
    return ws;
  }

  public void kill9(int i) throws InterruptedException {
    processes[i].destroyForcibly();
    processes[i].waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGTERM, as an orchestrator stops a node (the graceful shutdown). */
  public void term(int i) throws Exception {
    new ProcessBuilder("kill", "-TERM", Long.toString(processes[i].pid())).start().waitFor();
  }

  public static Map<String, String> env(String... keyValues) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      m.put(keyValues[i], keyValues[i + 1]);
    }
    return m;
  }

  @Override
  public void close() {
    for (Process p : processes) {
      if (p != null && p.isAlive()) {
        p.destroyForcibly();
      }
    }
  }
}

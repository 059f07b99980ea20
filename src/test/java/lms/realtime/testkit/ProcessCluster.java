package lms.realtime.testkit;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
  public final Process[] processes;
  private final String name;
  private final Map<String, String> env;
  private final String service = Tokens.service();

  /** {@code env}: settings every node gets on top of the ports, seeds, secret and log level. */
  public ProcessCluster(int size, String name, Map<String, String> env) {
    this.httpPorts = new int[size];
    this.clusterPorts = new int[size];
    this.processes = new Process[size];
    for (int i = 0; i < size; i++) {
      httpPorts[i] = TestNode.freePort();
      clusterPorts[i] = TestNode.freePort();
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
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/" + name + "-node-" + i + ".log")));
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
    e.putAll(env);
    processes[i] = pb.start();
    return processes[i];
  }

  public String url(int i, String path) {
    return "http://127.0.0.1:" + httpPorts[i] + path;
  }

  public void awaitReady(int i) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (true) {
      try {
        if (HTTP.send(HttpRequest.newBuilder(URI.create(url(i, "/health/ready"))).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (java.io.IOException notYet) {
        // starting
      }
      assertTrue(System.nanoTime() < deadline, "node " + i + " not ready");
      Thread.sleep(200);
    }
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

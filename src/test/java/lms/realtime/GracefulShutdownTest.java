package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import lms.realtime.testkit.ProcessCluster;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Contract §7: SIGTERM to a node in its own process closes every socket with 1012 and exits 0. */
@Tag("process")
class GracefulShutdownTest {

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void sigtermClosesEverySocketWith1012AndExitsZero() throws Exception {
    int httpPort = freePort();
    int clusterPort = freePort();
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xmx256m", "-cp", System.getProperty("java.class.path"), Main.class.getName())
        .redirectErrorStream(true)
        .redirectOutput(new File("target/graceful-shutdown-node.log"));
    pb.environment().put("LMS_HTTP_HOST", "127.0.0.1");
    pb.environment().put("LMS_HTTP_PORT", Integer.toString(httpPort));
    pb.environment().put("LMS_CLUSTER_PORT", Integer.toString(clusterPort));
    pb.environment().put("LMS_JWT_SECRET", Tokens.SECRET);
    pb.environment().put("LMS_TRANSPORT", TestNode.transport());
    pb.environment().put("LMS_DATA_DIR", TestNode.dataDir());
    Process process = pb.start();
    List<WsClient> sockets = new ArrayList<>();
    try {
      ProcessCluster.awaitReady("http://127.0.0.1:" + httpPort + "/health/ready", Duration.ofSeconds(60));
      for (int i = 0; i < 5; i++) {
        WsClient ws = WsClient.connect("ws://127.0.0.1:" + httpPort + "/ws?token=" + Tokens.student("g" + i, "1"), java.util.Map.of());
        ws.expect("welcome");
        ws.join("course:1");
        sockets.add(ws);
      }
      long pid = process.pid();
      new ProcessBuilder("kill", "-TERM", Long.toString(pid)).start().waitFor();
      for (WsClient ws : sockets) {
        WsClient.Closed closed = ws.awaitClose(Duration.ofSeconds(20));
        assertEquals(1012, closed.code());
        JsonNode advice = WsClient.JSON.readTree(closed.reason());
        assertTrue(advice.get("retryAfterMs").asInt() >= 1000);
      }
      assertTrue(process.waitFor(30, TimeUnit.SECONDS), "node did not exit after SIGTERM");
      assertEquals(0, process.exitValue());
    } finally {
      sockets.forEach(WsClient::close);
      if (process.isAlive()) {
        process.destroyForcibly();
      }
    }
  }
}

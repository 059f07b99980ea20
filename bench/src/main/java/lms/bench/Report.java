package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Merges the driver's per-run JSON files of one {@code bench/run.sh} run into
 * {@code bench/results/latest.json} and {@code bench/results/<date>.md}. Repeated runs of the same
 * server, members and rate are summarised by the median of each figure.
 *
 * <pre>java -cp lms-bench.jar lms.bench.Report --runs DIR --machine FILE --commands FILE --mode quick|full
 *        --title TEXT --json OUT.json --md OUT.md</pre>
 */
public final class Report {

  static final List<String> SERVERS = List.of("lms-realtime", "socket.io", "netty-ceiling");
  static final List<String> MEDIAN_FIELDS = List.of("deliveries_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms",
      "server_cpu_us_per_delivery", "server_cpu_pct", "server_idle_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct", "expected", "received",
      "lost", "avg_frame_bytes", "publish_rtt_p99_ms", "members_joined", "join_seconds");

  public static void main(String[] args) throws IOException {
    Map<String, String> o = new LinkedHashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      o.put(args[i], args[i + 1]);
    }
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    List<JsonNode> runs = new ArrayList<>();
    List<String> broken = new ArrayList<>();
    try (Stream<Path> files = Files.list(Path.of(o.get("--runs")))) {
      for (Path p : files.filter(p -> p.getFileName().toString().matches("run-.*\\.json")).sorted().toList()) {
        try {
          runs.add(json.readTree(p.toFile()));
        } catch (IOException e) {
          broken.add(p.getFileName() + ": " + e.getMessage());
        }
      }
    }
    String mode = o.getOrDefault("--mode", "full");

    // group: server, members, rate -> runs
    Map<String, List<JsonNode>> groups = new LinkedHashMap<>();
    runs.stream()
        .sorted(Comparator.comparingInt((JsonNode r) -> r.path("members").asInt())
            .thenComparingInt(r -> rank(r.path("server").asText()))
            .thenComparingInt(r -> r.path("rate").asInt()))
        .forEach(r -> groups.computeIfAbsent(r.path("server").asText() + "|" + r.path("members").asInt() + "|"
            + r.path("rate").asInt(), k -> new ArrayList<>()).add(r));

    ObjectNode latest = json.createObjectNode();
    latest.putNull("sockets_held");
    latest.putNull("bytes_per_socket");
    latest.putNull("handshakes_per_s");
    ArrayNode fanout = latest.putArray("fanout");
    List<ObjectNode> rows = new ArrayList<>();
    for (List<JsonNode> g : groups.values()) {
      JsonNode first = g.get(0);
      ObjectNode row = fanout.addObject();
      row.put("server", first.path("server").asText());
      row.put("members", first.path("members").asInt());
      row.put("rate", first.path("rate").asInt());
      row.put("payload_bytes", first.path("payload_bytes").asInt());
      row.put("seconds", first.path("seconds").asInt());
      List<JsonNode> ok = g.stream().filter(r -> !r.has("error")).toList();
      row.put("runs", ok.size());
      if (ok.size() < g.size()) {
        row.put("failed_runs", g.size() - ok.size());
      }
      for (String f : MEDIAN_FIELDS) {
        List<Double> v = ok.stream().map(r -> r.get(f)).filter(n -> n != null && n.isNumber())
            .map(JsonNode::asDouble).sorted().toList();
        if (v.isEmpty()) {
          row.putNull(f);
        } else {
          double m = v.size() % 2 == 1 ? v.get(v.size() / 2) : (v.get(v.size() / 2 - 1) + v.get(v.size() / 2)) / 2;
          if (f.equals("deliveries_per_s") || f.equals("expected") || f.equals("received") || f.equals("lost")
              || f.equals("avg_frame_bytes") || f.equals("members_joined")) {
            row.put(f, Math.round(m));
          } else {
            row.put(f, Math.round(m * 1000) / 1000.0);
          }
        }
      }
      rows.add(row);
    }
    Files.writeString(Path.of(o.get("--json")), json.writeValueAsString(latest) + "\n");

    StringBuilder md = new StringBuilder();
    md.append("# ").append(o.getOrDefault("--title", "lms-realtime benchmark")).append("\n\n");
    md.append("Mode: `").append(mode).append("`. Produced by `bench/run.sh`; the same figures are in `bench/results/latest.json`.\n");
    md.append("Each row is the median of `runs` runs (each with every server started fresh). ")
        .append("This is a shared 2-core box: the driver runs on the same cores as the server, and other work ")
        .append("may have been running (see `box busy`); absolute figures move from run to run, compare ")
        .append("servers within one run.\n\n");
    md.append("## Fan-out: one room, events published at a fixed rate through each server's HTTP publish call\n\n");
    md.append("| members | server | rate /s | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/delivery | server CPU % | server idle CPU % | driver CPU % | box busy % | received / expected | frame bytes | join s | runs |\n");
    md.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (ObjectNode r : rows) {
      md.append(String.format(Locale.ROOT, "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %d%s |\n",
          r.get("members").asInt(), r.get("server").asText(), r.get("rate").asInt(), num(r, "deliveries_per_s"),
          num(r, "p50_ms"), num(r, "p99_ms"), num(r, "p999_ms"), num(r, "max_ms"),
          num(r, "server_cpu_us_per_delivery"), num(r, "server_cpu_pct"), num(r, "server_idle_cpu_pct"),
          num(r, "driver_cpu_pct"),
          num(r, "box_cpu_busy_pct"), num(r, "received"), num(r, "expected"), num(r, "avg_frame_bytes"), num(r, "join_seconds"),
          r.get("runs").asInt(), r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed)" : ""));
    }
    md.append("\n### Ratios (server CPU per delivery: the fair comparison at a fixed rate)\n\n");
    md.append("At a fixed publish rate below saturation every server delivers about rate x members per second, so ")
        .append("deliveries/s alone does not rank them; CPU per delivery does (lower is better). ")
        .append("`x cheaper than socket.io` = socket.io's CPU/delivery / lms-realtime's (issue 7 wants >= 2); ")
        .append("`share of the ceiling` = netty-ceiling's CPU/delivery / lms-realtime's (issue 7 wants >= 0.5).\n\n");
    md.append("| members | rate /s | lms-realtime µs | socket.io µs | netty-ceiling µs | x cheaper than socket.io | share of the ceiling | lms p99 ms |\n");
    md.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    Map<String, Map<String, ObjectNode>> bySize = new LinkedHashMap<>();
    for (ObjectNode r : rows) {
      bySize.computeIfAbsent(r.get("members").asInt() + "|" + r.get("rate").asInt(), k -> new LinkedHashMap<>())
          .put(r.get("server").asText(), r);
    }
    bySize.forEach((k, m) -> {
      String[] mr = k.split("\\|");
      Double lms = cpu(m.get("lms-realtime"));
      Double sio = cpu(m.get("socket.io"));
      Double ceil = cpu(m.get("netty-ceiling"));
      md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", mr[0], mr[1], fmt(lms), fmt(sio),
          fmt(ceil), lms != null && sio != null && lms > 0 ? fmt(sio / lms) : "-",
          lms != null && ceil != null && lms > 0 ? fmt(ceil / lms) : "-",
          m.containsKey("lms-realtime") ? num(m.get("lms-realtime"), "p99_ms") : "-"));
    });
    md.append("\n## Not measured yet\n\n")
        .append("`sockets_held`, `bytes_per_socket` and `handshakes_per_s` are `null` in `latest.json`: the idle-socket ")
        .append("memory scenario, the handshake storm, cluster fan-out, capacity at the 50 ms p99 bound (rate step-up), ")
        .append("plots and profiling are not part of the harness yet (see `bench/README.md`).\n");
    if (!broken.isEmpty()) {
      md.append("\n## Unreadable run files\n\n");
      broken.forEach(b -> md.append("- ").append(b).append('\n'));
    }
    List<JsonNode> failed = runs.stream().filter(r -> r.has("error")).toList();
    if (!failed.isEmpty()) {
      md.append("\n## Failed runs\n\n");
      failed.forEach(r -> md.append("- ").append(r.path("server").asText()).append(", ").append(r.path("members").asInt())
          .append(" members: ").append(r.path("error").asText()).append(' ').append(r.path("failures")).append('\n'));
    }
    List<JsonNode> notes = runs.stream().filter(r -> !r.has("error") && (r.path("lost").asLong() > 0
        || r.path("unexpected_closes").asInt() > 0 || r.path("publish_errors").asLong() > 0
        || r.path("publish_skipped").asLong() > 0 || r.path("members_joined").asInt() < r.path("members").asInt())).toList();
    if (!notes.isEmpty()) {
      md.append("\n## Runs with losses, closes or errors\n\n");
      notes.forEach(r -> md.append(String.format(Locale.ROOT,
          "- %s, %d members: joined %d, lost %d, unexpected closes %d %s, publish errors %d, skipped %d, failures %s\n",
          r.path("server").asText(), r.path("members").asInt(), r.path("members_joined").asInt(), r.path("lost").asLong(),
          r.path("unexpected_closes").asInt(), r.path("close_codes"), r.path("publish_errors").asLong(),
          r.path("publish_skipped").asLong(), r.path("failures"))));
    }
    md.append("\n## How each figure is taken\n\n")
        .append("- **latency**: the publisher thread puts `System.nanoTime()` in the event's data (`\"t\":`) at the ")
        .append("event's scheduled time (fixed rate, open loop) and hands the POST to one of 4 keep-alive connections; each member's event loop finds `\"t\":` in the frame bytes (no JSON parse, the ")
        .append("same code for the three protocols) and records now - t in an HdrHistogram; every delivery of every event ")
        .append("published inside the measure window is in it (publish HTTP round trip included).\n")
        .append("- **deliveries/s**: deliveries received inside the measure window / its length.\n")
        .append("- **server CPU µs/delivery**: utime+stime of the server process (`/proc/PID/stat`) over the window / ")
        .append("deliveries received in it (the raw figure: fixed costs included). `server idle CPU %` is the same server ")
        .append("over 2 s with every member still joined and nothing published, taken after the window (timers, ")
        .append("heartbeats, GC). `join s`: how long the members took to connect and join, 256 handshakes in flight ")
        .append("(not the handshake-storm figure, but a hint). `driver CPU %` is the driver's own process; `box busy %` all processes on ")
        .append("all cores (100 % = both cores busy), from `/proc/stat`: more than server + driver means other work ran.\n")
        .append("- **before each run**: the driver publishes 2,000 events back to back into the still empty room, so that ")
        .append("the publish path of the driver and of the server is compiled, not interpreted, when the measurement starts.\n");
    appendFile(md, "Machine", o.get("--machine"));
    appendFile(md, "Commands", o.get("--commands"));
    Files.writeString(Path.of(o.get("--md")), md.toString());
    System.out.println("report: " + o.get("--md") + ", " + o.get("--json") + " (" + runs.size() + " runs)");
  }

  static int rank(String server) {
    int i = SERVERS.indexOf(server);
    return i < 0 ? SERVERS.size() : i;
  }

  static Double cpu(ObjectNode r) {
    return r == null || !r.hasNonNull("server_cpu_us_per_delivery") ? null : r.get("server_cpu_us_per_delivery").asDouble();
  }

  static String fmt(Double v) {
    return v == null ? "-" : v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
  }

  static String num(ObjectNode r, String f) {
    JsonNode n = r.get(f);
    if (n == null || n.isNull()) {
      return "-";
    }
    return n.isIntegralNumber() ? String.valueOf(n.asLong()) : fmt(n.asDouble());
  }

  static void appendFile(StringBuilder md, String title, String file) throws IOException {
    if (file == null || !Files.exists(Path.of(file))) {
      return;
    }
    md.append("\n## ").append(title).append("\n\n```\n").append(Files.readString(Path.of(file)).strip()).append("\n```\n");
  }
}

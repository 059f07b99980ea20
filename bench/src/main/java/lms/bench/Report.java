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
import lms.bench.Goals.Goal;

/**
 * Merges the driver's per-run JSON files of one {@code bench/run.sh} run ({@code run-*.json}: fan-out,
 * one node or a cluster; {@code hold-*.json}; {@code handshake-*.json}; {@code capacity-*.json}; {@code durable-*.json};
 * fan-out and hold with SSE members, {@code member_kind} {@code sse}, go to {@link Issue24} alone) into
 * {@code bench/results/latest.json}, {@code bench/results/<date>.md} and, with {@code --plots DIR}, PNG
 * plots (XChart). Repeated runs of the same server and size are summarised by the median of each figure.
 *
 * <pre>java -cp lms-bench.jar lms.bench.Report --runs DIR --machine FILE --commands FILE --mode quick|full
 *        --title TEXT --json OUT.json --md OUT.md [--plots DIR] [--stamp DATE] [--command "bench/run.sh ..."]</pre>
 * {@code latest.json} opens with {@code run}: which run it is (stamp, mode, the command, its report and the
 * plots it wrote), so that the README's block ({@link Readme}) names the run its figures and plots are from.
 */
public final class Report {

  static final String LMS = "lms-realtime";             // the engine on its default transport, netty
  static final String PEKKO = "lms-realtime-pekko-http"; // the same engine with LMS_TRANSPORT=pekko-http
  static final String SIO = "socket.io";
  static final String CEILING = "netty-ceiling";
  static final String MEMORY = "lms-realtime-memory";   // the same engine with LMS_DURABLE_ROOMS= (every room in memory)
  static final String PG = "lms-realtime-pg";           // the same engine with its journal in PostgreSQL
  static final List<String> SERVERS = List.of(LMS, PG, MEMORY, PEKKO, "lms-realtime-3-nodes", SIO, CEILING);
  static final List<String> DURABLE_FIELDS = List.of("events_per_s", "events_in_window", "events_accepted_in_window",
      "publish_p50_ms", "publish_p90_ms", "publish_p99_ms", "publish_p999_ms", "publish_max_ms", "p50_ms", "p90_ms",
      "p99_ms", "p999_ms", "max_ms", "publish_errors", "publish_errors_total", "publish_skipped", "expected", "received",
      "lost", "deliveries_per_s", "server_cpu_us_per_event", "server_cpu_us_per_delivery", "server_cpu_pct",
      "server_idle_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct", "members_joined", "join_seconds", "unexpected_closes",
      "server_jit_cpu_pct", "server_cpu_us_per_event_without_jit", "db_cpu_pct", "db_cpu_us_per_event",
      "server_and_db_cpu_us_per_event");
  static final List<String> HOLD_FIELDS = List.of("sockets_held", "sockets_at_sample", "bytes_per_socket",
      "heap_bytes_per_socket", "native_bytes_per_socket", "rss_bytes_per_socket", "bytes_per_socket_from_fresh",
      "kernel_tcp_bytes_per_socket_both_ends", "ramp_seconds", "unexpected_closes", "idle_cpu_pct",
      "idle_cpu_pct_at_0", "idle_cpu_pct_5000_sockets", "idle_cpu_sockets");
  static final List<String> CAPACITY_FIELDS = List.of("deliveries_per_s", "p99_ms", "measured_deliveries_per_s",
      "server_cpu_pct", "server_cpu_us_per_delivery", "steps_held", "steps_tried", "members_joined", "join_seconds");
  static final List<String> HANDSHAKE_FIELDS = List.of("handshakes_per_s", "handshakes", "failed", "seconds", "p50_ms",
      "p99_ms", "max_ms", "server_cpu_us_per_handshake", "server_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct",
      "cold_handshakes_per_s", "cold_p99_ms");
  static final java.util.Set<String> INTEGRAL = java.util.Set.of("deliveries_per_s", "expected", "received", "lost",
      "avg_frame_bytes", "members_joined", "sockets_held", "sockets_at_sample", "bytes_per_socket",
      "heap_bytes_per_socket", "native_bytes_per_socket", "rss_bytes_per_socket", "bytes_per_socket_from_fresh",
      "kernel_tcp_bytes_per_socket_both_ends", "unexpected_closes", "handshakes_per_s", "handshakes", "failed",
      "cold_handshakes_per_s", "measured_deliveries_per_s", "steps_held", "steps_tried", "idle_cpu_sockets",
      "events_in_window", "events_accepted_in_window", "publish_errors", "publish_errors_total", "publish_skipped");
  static final List<String> MEDIAN_FIELDS = List.of("deliveries_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms",
      "server_cpu_us_per_delivery", "server_cpu_pct", "server_idle_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct", "expected", "received",
      "lost", "avg_frame_bytes", "publish_rtt_p99_ms", "members_joined", "join_seconds", "server_jit_cpu_pct",
      "server_cpu_us_per_delivery_without_jit");

  public static void main(String[] args) throws IOException {
    Map<String, String> o = new LinkedHashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      o.put(args[i], args[i + 1]);
    }
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    List<JsonNode> runs = new ArrayList<>();      // fan-out, one node or several
    List<JsonNode> holds = new ArrayList<>();
    List<JsonNode> storms = new ArrayList<>();
    List<JsonNode> caps = new ArrayList<>();
    List<JsonNode> durables = new ArrayList<>();
    List<JsonNode> publishes = new ArrayList<>(); // issue 23
    List<JsonNode> days = new ArrayList<>();
    List<String> broken = new ArrayList<>();
    try (Stream<Path> files = Files.list(Path.of(o.get("--runs")))) {
      for (Path p : files.filter(p -> p.getFileName().toString().matches("(run|hold|handshake|capacity|durable|publish|lms-day)-.*\\.json")).sorted().toList()) {
        try {
          JsonNode n = json.readTree(p.toFile());
          switch (n.path("scenario").asText("fanout")) {
            case "hold" -> holds.add(n);
            case "handshake" -> storms.add(n);
            case "capacity" -> caps.add(n);
            case "durable" -> durables.add(n);
            case "publish" -> publishes.add(n);
            case "lms-day" -> days.add(n);
            default -> runs.add(n);
          }
        } catch (IOException e) {
          broken.add(p.getFileName() + ": " + e.getMessage());
        }
      }
    }
    String mode = o.getOrDefault("--mode", "full");
    List<JsonNode> sseRuns = Issue24.takeSse(runs);   // issue 24: SSE members have a section of their own;
    List<JsonNode> sseHolds = Issue24.takeSse(holds); // every other figure is of WebSocket members

    // group: server, members, rate -> runs
    Map<String, List<JsonNode>> groups = new LinkedHashMap<>();
    runs.stream()
        .sorted(Comparator.comparingInt((JsonNode r) -> r.path("members").asInt())
            .thenComparingInt(r -> rank(r.path("server").asText()))
            .thenComparingInt(r -> r.path("rate").asInt()))
        .forEach(r -> groups.computeIfAbsent(r.path("server").asText() + "|" + r.path("members").asInt() + "|"
            + r.path("rate").asInt(), k -> new ArrayList<>()).add(r));

    ObjectNode latest = json.createObjectNode();
    ObjectNode run = latest.putObject("run"); // first in the file; filled once the plots are written
    List<ObjectNode> holdRows = summarise(json, holds, HOLD_FIELDS, "members");
    List<ObjectNode> stormRows = summarise(json, storms, HANDSHAKE_FIELDS, "members", "in_flight");
    List<ObjectNode> capRows = summarise(json, caps, CAPACITY_FIELDS, "members");
    for (ObjectNode c : capRows) { // from the first run of that server and size that could measure
      caps.stream().filter(r -> !r.has("error") && r.path("server").asText().equals(c.path("server").asText())
          && r.path("members").asInt() == c.path("members").asInt()).findFirst().ifPresent(r -> {
            c.put("at_top_step", r.path("at_top_step").asBoolean());
            if (r.has("first_failed_step")) {
              c.set("first_failed_step", r.get("first_failed_step").deepCopy());
            }
            c.put("offered_steps", r.path("steps_planned").size());
          });
    }
    capRows.sort(Comparator.comparingInt((ObjectNode r) -> r.path("members").asInt())
        .thenComparingInt(r -> rank(r.path("server").asText())));
    ObjectNode lmsHold = row(holdRows, LMS);
    ObjectNode lmsStorm = row(stormRows, LMS);
    copyOrNull(latest, "sockets_held", lmsHold, "sockets_held");
    copyOrNull(latest, "bytes_per_socket", lmsHold, "bytes_per_socket");
    copyOrNull(latest, "handshakes_per_s", lmsStorm, "handshakes_per_s");
    ArrayNode fanout = latest.putArray("fanout");
    List<ObjectNode> rows = new ArrayList<>();
    for (List<JsonNode> g : groups.values()) {
      JsonNode first = g.get(0);
      ObjectNode row = fanout.addObject();
      row.put("server", first.path("server").asText());
      if (first.has("nodes")) {
        row.put("nodes", first.path("nodes").asInt());
      }
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
          putMedian(row, f, v);
        }
      }
      rows.add(row);
    }
    latest.putArray("hold").addAll(holdRows);
    latest.putArray("handshake").addAll(stormRows);
    latest.putArray("capacity").addAll(capRows);
    List<ObjectNode> durableRows = summarise(json, durables, DURABLE_FIELDS, "members", "rooms", "rate");
    for (ObjectNode r : durableRows) { // the journal's cost per event: this engine's CPU per event minus memory rooms'
      r.put("journal", journalOf(r.path("server").asText()));
      ObjectNode mem = durableRows.stream().filter(m -> m.path("server").asText().equals(MEMORY)
          && m.path("members").asInt() == r.path("members").asInt() && m.path("rooms").asInt() == r.path("rooms").asInt()
          && m.path("rate").asInt() == r.path("rate").asInt()).findFirst().orElse(null);
      if (mem == null || r.path("server").asText().equals(MEMORY)) {
        continue;
      }
      double db = r.hasNonNull("db_cpu_us_per_event") ? r.get("db_cpu_us_per_event").asDouble() : 0; // PostgreSQL's own
      Double mine = Goals.value(r, "server_cpu_us_per_event");
      Double base = Goals.value(mem, "server_cpu_us_per_event");
      if (mine != null && base != null && base > 0) {
        r.put("journal_cpu_us_per_event", Math.round((mine + db - base) * 10) / 10.0);
        r.put("cpu_per_event_vs_memory", Math.round((mine + db) / base * 1000) / 1000.0);
      }
      Double mineNj = Goals.value(r, "server_cpu_us_per_event_without_jit");
      Double baseNj = Goals.value(mem, "server_cpu_us_per_event_without_jit");
      if (mineNj != null && baseNj != null && baseNj > 0) {
        r.put("journal_cpu_us_per_event_without_jit", Math.round((mineNj + db - baseNj) * 10) / 10.0);
      }
    }
    latest.putArray("durable").addAll(durableRows);
    Map<String, Map<String, ObjectNode>> bySize = new LinkedHashMap<>();
    for (ObjectNode r : rows) {
      bySize.computeIfAbsent(r.get("members").asInt() + "|" + r.get("rate").asInt(), k -> new LinkedHashMap<>())
          .put(r.get("server").asText(), r);
    }
    // issue 14: fan-out CPU per delivery, durable room (lms-realtime: course:1 in its H2 journal) vs memory rooms
    List<ObjectNode> vsMemory = new ArrayList<>();
    bySize.forEach((k, m) -> {
      Double mem = cpu(m.get(MEMORY));
      if (mem == null || mem <= 0) {
        return;
      }
      for (String server : List.of(LMS, PG, PEKKO)) {
        Double v = cpu(m.get(server));
        if (v == null) {
          continue;
        }
        String[] mr = k.split("\\|");
        ObjectNode x = json.createObjectNode();
        x.put("server", server);
        x.put("members", Integer.parseInt(mr[0]));
        x.put("rate", Integer.parseInt(mr[1]));
        x.put("server_cpu_us_per_delivery", v);
        x.put("memory_cpu_us_per_delivery", mem);
        double ratio = v / mem;
        x.put("ratio", Math.round(ratio * 1000) / 1000.0);
        x.put("within_10_pct", Math.abs(ratio - 1) <= 0.10);
        Double vNj = Goals.value(m.get(server), "server_cpu_us_per_delivery_without_jit");
        Double memNj = Goals.value(m.get(MEMORY), "server_cpu_us_per_delivery_without_jit");
        if (vNj != null && memNj != null && memNj > 0) {
          x.put("server_cpu_us_per_delivery_without_jit", vNj);
          x.put("memory_cpu_us_per_delivery_without_jit", memNj);
          x.put("ratio_without_jit", Math.round(vNj / memNj * 1000) / 1000.0);
        }
        x.put("runs", m.get(server).path("runs").asInt());
        x.put("memory_runs", m.get(MEMORY).path("runs").asInt());
        ArrayNode each = x.putArray("runs_us");
        ArrayNode eachMem = x.putArray("memory_runs_us");
        ArrayNode pairs = x.putArray("paired_ratios");
        List<Double> a = runCpu(groups.get(server + "|" + k));
        List<Double> b = runCpu(groups.get(MEMORY + "|" + k));
        a.forEach(each::add);
        b.forEach(eachMem::add);
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
          pairs.add(Math.round(a.get(i) / b.get(i) * 1000) / 1000.0);
        }
        vsMemory.add(x);
      }
    });
    latest.putArray("durable_vs_memory_fanout").addAll(vsMemory);
    List<Goal> goals = Goals.of(mode, bySize, capRows, holdRows, stormRows);
    ArrayNode goalsJson = latest.putArray("issue_11_goals");
    goals.forEach(g -> goalsJson.add(g.json(json)));
    Issue23.Summary i23 = Issue23.summarise(json, publishes, days);
    Issue23.putJson(latest, i23);
    Issue24.Summary i24 = Issue24.summarise(json, rows, holdRows, sseRuns, sseHolds);
    Issue24.putJson(latest, i24);
    List<String> plots = new ArrayList<>(o.containsKey("--plots")
        ? Plots.write(Path.of(o.get("--plots")), rows, holdRows, stormRows, capRows, caps, durableRows)
        : List.of());
    if (o.containsKey("--plots")) {
      plots.addAll(Issue23.plots(Path.of(o.get("--plots")), i23, days));
    }
    describeRun(run, o, mode, plots);
    Files.writeString(Path.of(o.get("--json")), json.writeValueAsString(latest) + "\n");
    String plotPrefix = o.containsKey("--plots")
        ? relative(Path.of(o.get("--md")).toAbsolutePath().getParent(), Path.of(o.get("--plots")).toAbsolutePath()) : "";

    // a run of the harness since issue 14 (its machine file names the journals): durable rooms by default
    boolean durableRun = o.containsKey("--machine") && Files.exists(Path.of(o.get("--machine")))
        && Files.readString(Path.of(o.get("--machine"))).contains("journals:");
    StringBuilder md = new StringBuilder();
    md.append("# ").append(o.getOrDefault("--title", "lms-realtime benchmark")).append("\n\n");
    md.append("Mode: `").append(mode).append("`. Produced by `").append(o.getOrDefault("--command", "bench/run.sh"))
        .append("`; the same figures are in `bench/results/latest.json`.\n");
    md.append("Each row is the median of `runs` runs (each with every server started fresh). ")
        .append("This is a shared 2-core box: the driver runs on the same cores as the server, and other work ")
        .append("may have been running (see `box busy`); absolute figures move from run to run, compare ")
        .append("servers within one run.\n\n");
    md.append("`lms-realtime` is the engine on its default transport, **netty** (started with `LMS_TRANSPORT=netty`); ")
        .append("`lms-realtime-pekko-http` is the same jar with `LMS_TRANSPORT=pekko-http` (pekko-http's server), ")
        .append("everything else the same.");
    if (durableRun) {
      md.append(" Since issue 14 `course:` and `user:` rooms are durable by default: ")
          .append("`lms-realtime` (and pekko-http) keep them in an embedded H2 journal under a fresh `LMS_DATA_DIR` per run, ")
          .append("`lms-realtime-pg` in a PostgreSQL server started for the run, `lms-realtime-memory` is the same jar with ")
          .append("`LMS_DURABLE_ROOMS=` (every room in memory, as before issue 14). The fan-out room `course:1` is durable on ")
          .append("the first two.");
    }
    md.append("\n\n");

    // ---- the goals of issue 11, as measured by this run
    md.append("## Issue 11's goals, as measured in this run\n\n");
    md.append("Each goal as a ratio of lms-realtime (netty) to the peer it names, measured in this run, and whether it ")
        .append("is met; the last column gives the same ratio for lms-realtime-pekko-http, which has no goal (reported as ")
        .append("it is). CPU per delivery is from `fanout` (lower is better: the goal is a ratio at most 1.25); capacity from ")
        .append("`capacity` (the last step that held p99 <= 50 ms with deliveries keeping up); memory and idle CPU from `hold`; ")
        .append("handshakes from `handshake` (the warm round). The idle-CPU figure is for 5,000 joined sockets: measured ")
        .append("when the hold had 5,000, otherwise the cost at 0 sockets plus the rest scaled linearly to 5,000 (`hold` section).\n\n");
    md.append("| goal | lms-realtime (netty) | met? | lms-realtime-pekko-http (no goal) |\n| --- | --- | --- | --- |\n");
    for (Goal g : goals) {
      md.append("| ").append(g.text()).append(" | ").append(g.lmsCell()).append(" | ")
          .append(g.met() == null ? "-" : g.met() ? "yes" : "**no**").append(" | ").append(g.pekkoCell()).append(" |\n");
    }

    Issue23.appendGoals(md, i23);
    Issue24.append(md, i24);

    // ---- the goals of issue 7, kept for comparison
    md.append("\n## Issue 7's goals (the earlier issue's, kept for comparison)\n\n");
    md.append("| goal | measured | met? |\n| --- | --- | --- |\n");
    bySize.forEach((k, m) -> {
      String size = k.split("\\|")[0] + " members";
      Double lms = cpu(m.get("lms-realtime"));
      Double sio = cpu(m.get("socket.io"));
      Double ceil = cpu(m.get("netty-ceiling"));
      if (lms != null && sio != null && lms > 0) {
        md.append(String.format(Locale.ROOT, "| fan-out CPU/delivery >= 2x cheaper than socket.io (%s) | %sx | %s |\n",
            size, fmt(sio / lms), sio / lms >= 2 ? "yes" : "**no**"));
      }
      if (lms != null && ceil != null && lms > 0) {
        md.append(String.format(Locale.ROOT, "| fan-out >= 1/2 of the Netty ceiling (%s) | %s | %s |\n",
            size, fmt(ceil / lms), ceil / lms >= 0.5 ? "yes" : "**no**"));
      }
    });
    rows.stream().filter(r -> r.path("server").asText().equals("lms-realtime") && r.path("members").asInt() >= 10_000
        && r.hasNonNull("p99_ms")).forEach(r -> md.append(String.format(Locale.ROOT,
        "| p99 < 50 ms, %d-member room at %d events/s | %s ms | %s |\n", r.get("members").asInt(), r.get("rate").asInt(),
        num(r, "p99_ms"), r.get("p99_ms").asDouble() < 50 ? "yes" : "**no**")));
    if (rows.stream().noneMatch(r -> r.path("server").asText().equals("lms-realtime") && r.path("members").asInt() >= 10_000)) {
      md.append("| p99 < 50 ms for a 10,000-member room | not in this run (full mode only) | - |\n");
    }
    if (lmsHold != null && lmsHold.hasNonNull("bytes_per_socket")) {
      long b = lmsHold.get("bytes_per_socket").asLong();
      md.append(String.format(Locale.ROOT, "| <= 20 KiB (20,480 B) per idle socket, heap + native | %d B (%.1f KiB) at %s sockets | %s |\n",
          b, b / 1024.0, num(lmsHold, "sockets_at_sample"), b <= 20_480 ? "yes" : "**no**"));
    } else {
      md.append("| <= 20 KiB per idle socket | not measured in this run | - |\n");
    }
    if (lmsStorm != null && lmsStorm.hasNonNull("handshakes_per_s")) {
      long h = lmsStorm.get("handshakes_per_s").asLong();
      md.append(String.format(Locale.ROOT, "| >= 5,000 handshakes/s with JWT | %d/s (%s sockets, %s in flight) | %s |\n",
          h, num(lmsStorm, "members"), num(lmsStorm, "in_flight"), h >= 5000 ? "yes" : "**no**"));
    } else {
      md.append("| >= 5,000 handshakes/s with JWT | not measured in this run | - |\n");
    }

    // ---- fan-out
    if (!rows.isEmpty()) {
      md.append("\n## Fan-out: one room, events published at a fixed rate through each server's HTTP publish call\n\n");
      md.append("`lms-realtime-3-nodes`: three engine processes forming one cluster on loopback, members spread round robin ")
          .append("over the three nodes, events published through node 1; its server CPU is the sum of the three processes.")
          .append(durableRun ? " Its rooms are **memory rooms** (`LMS_DURABLE_ROOMS=`: three nodes without a shared database "
              + "may not keep durable rooms)." : "").append("\n\n");
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
          .append("`lms / ceiling` = lms-realtime's CPU/delivery / netty-ceiling's (issue 11 wants <= 1.25), `pekko-http / ceiling` ")
          .append("the same for the pekko-http transport; ")
          .append("`x cheaper than socket.io` = socket.io's CPU/delivery / lms-realtime's (issue 7 wanted >= 2); ")
          .append("`share of the ceiling` = netty-ceiling's CPU/delivery / lms-realtime's (issue 7 wanted >= 0.5).\n\n");
      md.append("| members | rate /s | lms-realtime µs | pekko-http µs | 3 nodes µs | socket.io µs | netty-ceiling µs | lms / ceiling | pekko-http / ceiling | x cheaper than socket.io | share of the ceiling | lms p99 ms | pekko-http p99 ms | 3 nodes p99 ms |\n");
      md.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      bySize.forEach((k, m) -> {
        String[] mr = k.split("\\|");
        Double lms = cpu(m.get(LMS));
        Double pekko = cpu(m.get(PEKKO));
        Double sio = cpu(m.get(SIO));
        Double ceil = cpu(m.get(CEILING));
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mr[0], mr[1],
            fmt(lms), fmt(pekko), fmt(cpu(m.get("lms-realtime-3-nodes"))), fmt(sio), fmt(ceil),
            ratio(lms, ceil), ratio(pekko, ceil), ratio(sio, lms), ratio(ceil, lms),
            m.containsKey(LMS) ? num(m.get(LMS), "p99_ms") : "-",
            m.containsKey(PEKKO) ? num(m.get(PEKKO), "p99_ms") : "-",
            m.containsKey("lms-realtime-3-nodes") ? num(m.get("lms-realtime-3-nodes"), "p99_ms") : "-"));
      });
      if (!vsMemory.isEmpty()) {
        md.append("\n### Durable room vs memory rooms: fan-out CPU per delivery (issue 14)\n\n");
        md.append("The same jar, the same room `course:1`: durable (its every event stored in the journal before it is ")
            .append("delivered: H2 for lms-realtime, PostgreSQL for lms-realtime-pg) against `lms-realtime-memory` ")
            .append("(`LMS_DURABLE_ROOMS=`). The journal costs per event, not per member, so at 1,000 members its share of the ")
            .append("CPU per delivery should be small: issue 14 asks for the ratio to stay within 10 % of 1. Medians over the ")
            .append("runs; the runs' own figures and the ratios repeat by repeat (servers interleaved) beside them: the box ")
            .append("drifts 10-20 % from run to run, a single pair proves nothing. `without JIT`: the same with the CPU of the ")
            .append("JVM's JIT compiler threads (`C1/C2 CompilerThread`, from `/proc/PID/task`) left out: a fresh engine still ")
            .append("compiles during a short window, and the durable path has more code to compile.\n\n");
        md.append("| members | rate /s | server | µs/delivery | memory µs/delivery | ratio | within 10 %? | without JIT: µs / memory µs | ratio without JIT | runs (µs) | memory runs (µs) | repeat by repeat |\n");
        md.append("| ---: | ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- | --- | --- |\n");
        for (ObjectNode x : vsMemory) {
          md.append(String.format(Locale.ROOT, "| %d | %d | %s | %s | %s | %sx | %s | %s | %s | %s | %s | %s |\n",
              x.get("members").asInt(), x.get("rate").asInt(), x.get("server").asText(),
              fmt(x.get("server_cpu_us_per_delivery").asDouble()), fmt(x.get("memory_cpu_us_per_delivery").asDouble()),
              fmt(x.get("ratio").asDouble()), x.get("within_10_pct").asBoolean() ? "yes" : "**no**",
              x.has("ratio_without_jit") ? fmt(x.get("server_cpu_us_per_delivery_without_jit").asDouble()) + " / "
                  + fmt(x.get("memory_cpu_us_per_delivery_without_jit").asDouble()) : "-",
              x.has("ratio_without_jit") ? fmt(x.get("ratio_without_jit").asDouble()) + "x" : "-",
              list(x.get("runs_us"), ""), list(x.get("memory_runs_us"), ""), list(x.get("paired_ratios"), "x")));
        }
      }
    }

    // ---- sockets held
    if (!holdRows.isEmpty()) {
      md.append("\n## Sockets held: memory per idle socket\n\n");
      md.append("N idle sockets (lms: each joined `course:1`, one `ping` every 20 s), the server's memory after a forced GC ")
          .append("at 0 sockets (after a warm-up batch was opened and closed) and at N. JVMs run with `-Xms2g -Xmx2g ")
          .append("-XX:+AlwaysPreTouch`, so RSS grows only by native memory: `bytes/socket` = Δheap used after GC / N + ")
          .append("ΔRSS / N. Node: Δ`heapUsed` / N + Δ(RSS − `heapTotal`) / N after `global.gc()`. `held` = sockets that ")
          .append("answered a last ping (lms) or that both ends still count open (peers). Kernel socket buffers are not in ")
          .append("any process's RSS; `kernel TCP B` is `/proc/net/sockstat`'s TCP memory, box-wide and both ends, per ")
          .append("socket (noisy on a shared box).\n\n");
      int idleWindow = holds.stream().mapToInt(h -> h.path("idle_cpu_window_s").asInt()).max().orElse(0);
      int idleBase = holds.stream().mapToInt(h -> h.path("idle_baseline_s").asInt()).max().orElse(0);
      md.append("**Idle CPU** (issue 11): the server's utime+stime (`/proc/PID/stat`) over the last ").append(idleWindow)
          .append(" s of the hold, as percent of one core, while the joined sockets only keep their heartbeat (lms: a `ping` ")
          .append("every 20 s from each; Socket.IO: its own ping/pong every 25 s), after the ramp and before the memory sample; ")
          .append("`at 0` is the same over ").append(idleBase).append(" s at 0 sockets (after the warm-up batch was closed and the ")
          .append("baseline sample taken: the server's fixed idle cost). `5,000 est.` is what 5,000 idle joined sockets cost the ")
          .append("server: the figure itself when N = 5,000, otherwise at 0 + (at N − at 0) × 5,000 / N (linear in N).\n\n");
      md.append("| server | sockets | held | bytes/socket | heap B | native B | ΔRSS B | from fresh B | kernel TCP B | idle CPU % | idle CPU % at 0 | 5,000 est. % | ramp s | unexpected closes | runs |\n");
      md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      for (ObjectNode r : holdRows) {
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d%s |\n",
            r.get("server").asText(), num(r, "members"), num(r, "sockets_held"), num(r, "bytes_per_socket"),
            num(r, "heap_bytes_per_socket"), num(r, "native_bytes_per_socket"), num(r, "rss_bytes_per_socket"),
            num(r, "bytes_per_socket_from_fresh"), num(r, "kernel_tcp_bytes_per_socket_both_ends"),
            num(r, "idle_cpu_pct"), num(r, "idle_cpu_pct_at_0"), num(r, "idle_cpu_pct_5000_sockets"),
            num(r, "ramp_seconds"), num(r, "unexpected_closes"), r.get("runs").asInt(),
            r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed)" : ""));
      }
      holds.stream().filter(h -> h.path("server").asText().equals("lms-realtime") && h.path("heap_growth_top").size() > 0)
          .findFirst().ifPresent(h -> {
            md.append("\nWhere lms-realtime's heap per socket goes: the classes whose live bytes grew most between 0 and ")
                .append(h.path("sockets_at_sample").asInt()).append(" sockets (`jcmd GC.class_histogram`), per socket:\n\n");
            md.append("| class | instances/socket | bytes/socket |\n| --- | ---: | ---: |\n");
            h.path("heap_growth_top").forEach(x -> md.append(String.format(Locale.ROOT, "| `%s` | %s | %d |\n",
                x.path("class").asText(), fmt(x.path("instances_per_socket").asDouble()), x.path("bytes_per_socket").asLong())));
          });
    }

    // ---- handshake storm
    if (!stormRows.isEmpty()) {
      md.append("\n## Handshake storm: sockets per second from zero\n\n");
      md.append("M sockets opened from zero with K in flight over several source addresses. lms: each with its own ")
          .append("HS256 JWT (a distinct user), counted at `welcome`; socket.io at its CONNECT answer, the ceiling at the ")
          .append("WebSocket upgrade (neither checks a token). `handshakes/s` = M / (last ready − first connect) of the ")
          .append("second round on the same server (warm JIT, new users); `cold/s` is the first round on a fresh server.\n\n");
      md.append("| server | sockets | in flight | handshakes/s | p50 ms | p99 ms | max ms | server CPU µs/handshake | server CPU % | failed | cold /s | cold p99 ms | runs |\n");
      md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      for (ObjectNode r : stormRows) {
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d%s |\n",
            r.get("server").asText(), num(r, "members"), num(r, "in_flight"), num(r, "handshakes_per_s"), num(r, "p50_ms"),
            num(r, "p99_ms"), num(r, "max_ms"), num(r, "server_cpu_us_per_handshake"), num(r, "server_cpu_pct"),
            num(r, "failed"), num(r, "cold_handshakes_per_s"), num(r, "cold_p99_ms"), r.get("runs").asInt(),
            r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed)" : ""));
      }
    }

    // ---- capacity
    if (!capRows.isEmpty()) {
      appendCapacity(md, capRows, caps);
    }

    // ---- durable publish
    if (!durableRows.isEmpty()) {
      appendDurable(md, durableRows, durables);
    }

    // ---- issue 23: publish at saturation, batch, a learning platform's day
    Issue23.appendPublish(md, i23, publishes);
    Issue23.appendDay(md, i23, days);

    // ---- plots
    if (!plots.isEmpty()) {
      md.append("\n## Plots\n\n");
      for (String p : plots) {
        md.append("![").append(p.replace(".png", "")).append("](").append(plotPrefix).append(p).append(")\n\n");
      }
    }

    md.append("\n## Not measured yet\n\n")
        .append("Profiles of the engine under fan-out (async-profiler, JFR) are not part of the harness yet ")
        .append("(see `bench/README.md`).\n");
    if (!broken.isEmpty()) {
      md.append("\n## Unreadable run files\n\n");
      broken.forEach(b -> md.append("- ").append(b).append('\n'));
    }
    List<JsonNode> failed = new ArrayList<>();
    Stream.of(runs, holds, storms, caps, durables, publishes, days).flatMap(List::stream).filter(r -> r.has("error")).forEach(failed::add);
    if (!failed.isEmpty()) {
      md.append("\n## Failed runs\n\n");
      failed.forEach(r -> md.append("- ").append(r.path("scenario").asText("fanout")).append(", ")
          .append(r.path("server").asText()).append(", ").append(r.path("members").asInt())
          .append(" members/sockets: ").append(r.path("error").asText()).append(' ').append(r.path("failures")).append('\n'));
    }
    List<JsonNode> notes = runs.stream().filter(r -> !r.has("error") && (r.path("lost").asLong() > 0
        || r.path("unexpected_closes").asInt() > 0 || r.path("publish_errors").asLong() > 0
        || r.path("publish_skipped").asLong() > 0 || r.path("members_joined").asInt() < r.path("members").asInt()
        || r.path("connect_retries").size() > 0)).toList();
    List<JsonNode> holdNotes = holds.stream().filter(r -> !r.has("error") && (r.path("unexpected_closes").asInt() > 0
        || r.path("sockets_held").asInt() < r.path("members").asInt() || r.path("failures").size() > 0
        || r.path("connect_retries").size() > 0)).toList();
    List<JsonNode> stormNotes = storms.stream().filter(r -> !r.has("error")).flatMap(r -> {
      List<JsonNode> l = new ArrayList<>();
      r.path("rounds").forEach(x -> {
        if (x.path("failed").asInt() > 0 || x.path("timed_out").asBoolean()) {
          ((ObjectNode) x).put("server", r.path("server").asText());
          l.add(x);
        }
      });
      return l.stream();
    }).toList();
    List<JsonNode> durableNotes = durables.stream().filter(r -> !r.has("error") && (r.path("lost").asLong() > 0
        || r.path("unexpected_closes").asInt() > 0 || r.path("publish_errors_total").asLong() > 0
        || r.path("publish_skipped").asLong() > 0 || r.path("members_joined").asInt() < r.path("members").asInt()
        || r.path("connect_retries").size() > 0 || r.path("prewarm").path("errors").asLong() > 0)).toList();
    if (!notes.isEmpty() || !holdNotes.isEmpty() || !stormNotes.isEmpty() || !durableNotes.isEmpty()) {
      md.append("\n## Runs with losses, closes or errors\n\n");
      notes.forEach(r -> md.append(String.format(Locale.ROOT,
          "- fan-out, %s, %d members: joined %d, lost %d, unexpected closes %d %s, publish errors %d, skipped %d, failures %s%s\n",
          r.path("server").asText(), r.path("members").asInt(), r.path("members_joined").asInt(), r.path("lost").asLong(),
          r.path("unexpected_closes").asInt(), r.path("close_codes"), r.path("publish_errors").asLong(),
          r.path("publish_skipped").asLong(), r.path("failures"),
          r.path("connect_retries").size() > 0 ? ", handshakes tried again (they joined later) " + r.path("connect_retries") : "")));
      holdNotes.forEach(r -> md.append(String.format(Locale.ROOT,
          "- hold, %s, %d sockets: ready %d, at the sample %d, held %d, unexpected closes %d %s, failures %s, tried again %s\n",
          r.path("server").asText(), r.path("members").asInt(), r.path("ramp_ready").asInt(),
          r.path("sockets_at_sample").asInt(), r.path("sockets_held").asInt(), r.path("unexpected_closes").asInt(),
          r.path("close_codes"), r.path("failures"), r.path("connect_retries"))));
      stormNotes.forEach(x -> md.append(String.format(Locale.ROOT,
          "- handshake storm, %s, round %d: %d of %d failed%s, failures %s\n", x.path("server").asText(),
          x.path("round").asInt(), x.path("failed").asInt(), x.path("sockets").asInt(),
          x.path("timed_out").asBoolean() ? " (timed out)" : "", x.path("failures"))));
      durableNotes.forEach(r -> md.append(String.format(Locale.ROOT,
          "- durable, %s, %d rooms x %d: joined %d, lost %d, unexpected closes %d %s, publish errors %d (%d in the window) %s, "
              + "skipped %d, pre-warm errors %d, failures %s%s\n",
          r.path("server").asText(), r.path("rooms").asInt(), r.path("members").asInt() / Math.max(1, r.path("rooms").asInt()),
          r.path("members_joined").asInt(), r.path("lost").asLong(), r.path("unexpected_closes").asInt(), r.path("close_codes"),
          r.path("publish_errors_total").asLong(), r.path("publish_errors").asLong(), r.path("publish_errors_by_status"),
          r.path("publish_skipped").asLong(), r.path("prewarm").path("errors").asLong(), r.path("failures"),
          r.path("connect_retries").size() > 0 ? ", handshakes tried again " + r.path("connect_retries") : "")));
    }
    md.append("\n## How each figure is taken\n\n")
        .append("- **latency**: the publisher thread puts `System.nanoTime()` in the event's data (`\"t\":`) at the ")
        .append("event's scheduled time (fixed rate, open loop) and hands the POST to one of 4 keep-alive connections; each member's event loop finds `\"t\":` in the frame bytes (no JSON parse, the ")
        .append("same code for the three protocols) and records now - t in an HdrHistogram; every delivery of every event ")
        .append("published inside the measure window is in it (publish HTTP round trip included).\n")
        .append("- **deliveries/s**: deliveries received inside the measure window / its length.\n")
        .append("- **server CPU µs/delivery**: utime+stime of the server process (`/proc/PID/stat`; the sum of the three ")
        .append("nodes for the cluster) over the window / ")
        .append("deliveries received in it (the raw figure: fixed costs included). `server idle CPU %` is the same server ")
        .append("over 2 s with every member still joined and nothing published, taken after the window (timers, ")
        .append("heartbeats, GC). `join s`: how long the members took to connect and join, 256 handshakes in flight ")
        .append("(not the handshake-storm figure, but a hint). `driver CPU %` is the driver's own process; `box busy %` all processes on ")
        .append("all cores (100 % = both cores busy), from `/proc/stat`: more than server + driver means other work ran.\n")
        .append("- **before each fan-out run**: the driver publishes 2,000 events back to back into the still empty room, so that ")
        .append("the publish path of the driver and of the server is compiled, not interpreted, when the measurement starts.\n")
        .append("- **bytes per socket**: `jcmd PID GC.run`, then heap used from `jcmd PID GC.heap_info` and VmRSS from ")
        .append("`/proc/PID/status` (node: `/stats?gc=1` on the peer, `global.gc()` then `process.memoryUsage()`), at 0 ")
        .append("and at N sockets; see the hold section above and `bench/README.md`.\n")
        .append("- **handshake latency**: from the driver's `connect()` call to `welcome` (lms), to the CONNECT answer ")
        .append("(socket.io), to the end of the upgrade (ceiling); HdrHistogram of every socket of the round.\n");
    appendFile(md, "Machine", o.get("--machine"));
    appendFile(md, "Commands", o.get("--commands"));
    Files.writeString(Path.of(o.get("--md")), md.toString());
    System.out.println("report: " + o.get("--md") + ", " + o.get("--json") + " (" + runs.size() + " fan-out runs, "
        + holds.size() + " hold, " + storms.size() + " handshake, " + caps.size() + " capacity, " + durables.size() + " durable, "
        + publishes.size() + " publish, " + days.size() + " lms-day"
        + (sseRuns.isEmpty() && sseHolds.isEmpty() ? "" : "; SSE members: " + sseRuns.size() + " fan-out, " + sseHolds.size() + " hold")
        + (plots.isEmpty() ? "" : "; plots " + plots) + ")");
  }

  /**
   * latest.json's {@code run}: the stamp (and its UTC date), the mode, the command that produced it, its
   * report and the plots it wrote, as paths relative to latest.json's directory. Only the plots this run
   * wrote are listed: a file of the plots directory that is not listed is not this run's.
   */
  static void describeRun(ObjectNode run, Map<String, String> o, String mode, List<String> plots) {
    Path dir = Path.of(o.get("--json")).toAbsolutePath().getParent();
    String stamp = o.get("--stamp");
    run.put("stamp", stamp);
    if (stamp != null && stamp.matches("\\d{4}-\\d{2}-\\d{2}-\\d{6}")) {
      run.put("date_utc", stamp.substring(0, 10) + " " + stamp.substring(11, 13) + ":" + stamp.substring(13, 15) + ":"
          + stamp.substring(15, 17));
    } else {
      run.putNull("date_utc");
    }
    run.put("mode", mode);
    run.put("command", o.get("--command"));
    run.put("report", dir.relativize(Path.of(o.get("--md")).toAbsolutePath()).toString().replace('\\', '/'));
    String plotDir = o.containsKey("--plots") ? relative(dir, Path.of(o.get("--plots")).toAbsolutePath()) : "";
    ArrayNode written = run.putArray("plots");
    plots.forEach(p -> written.add(plotDir + p));
  }

  /** The capacity section: the capacity per server and size, the ratios, then every step. */
  static void appendCapacity(StringBuilder md, List<ObjectNode> capRows, List<JsonNode> caps) {
    JsonNode any = caps.stream().filter(r -> !r.has("error")).findFirst().orElse(null);
    md.append("\n## Capacity: the highest offered load held at p99 <= 50 ms\n\n");
    md.append("One room, one server process per server and room size, kept running across its steps; the members join ")
        .append("once. Each step offers `step` deliveries/s (events/s = step / members)");
    if (any != null) {
      md.append(String.format(Locale.ROOT, ": %d s warm-up (the first step %d s), %d s measured, at most %d s drain",
          any.path("warmup_s").asInt(), any.path("first_step_warmup_s").asInt(), any.path("seconds").asInt(),
          any.path("drain_s").asInt()));
    }
    md.append(". A step **holds** when p99 publish-to-delivery of the events published in its window is at most 50 ms, ")
        .append("received >= 99.9 % of expected (events published in the window x members), no publish was skipped or ")
        .append("failed and no member was closed. The steps go up until one does not hold; the **capacity** is the offered ")
        .append("load of the last step that held (0: not even the first). Its resolution is the step size. `≥`: every ")
        .append("step held (the capacity is at least the top step). The driver shares the 2 cores (about 10 µs of its CPU per ")
        .append("delivery read), so every server's capacity here is the box's as much as the server's; compare within the run.\n\n");
    md.append("| members | server | capacity deliveries/s | p99 ms there | measured deliveries/s | server CPU % there | server µs/delivery there | steps held / tried | first step not held | runs |\n");
    md.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |\n");
    for (ObjectNode r : capRows) {
      JsonNode f = r.get("first_failed_step");
      md.append(String.format(Locale.ROOT, "| %s | %s | %s%s | %s | %s | %s | %s | %s / %s | %s | %d%s |\n",
          num(r, "members"), r.path("server").asText(), r.path("at_top_step").asBoolean() ? "≥ " : "",
          num(r, "deliveries_per_s"), num(r, "p99_ms"), num(r, "measured_deliveries_per_s"), num(r, "server_cpu_pct"),
          num(r, "server_cpu_us_per_delivery"), num(r, "steps_held"), num(r, "steps_tried"),
          f == null ? r.has("error") ? r.path("error").asText() : "-"
              : f.path("offered_deliveries_per_s").asLong() + "/s: " + f.path("why").asText(),
          r.path("runs").asInt(), r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed)" : ""));
    }
    md.append("\nRatios of capacity (issue 11 wants lms-realtime >= 1.25x socket.io's and >= 0.85x the ceiling's):\n\n");
    md.append("| members | lms-realtime /s | pekko-http /s | socket.io /s | netty-ceiling /s | lms / socket.io | lms / ceiling | pekko-http / socket.io | pekko-http / ceiling |\n");
    md.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    new java.util.TreeSet<>(capRows.stream().map(r -> r.path("members").asInt()).toList()).forEach(m -> {
      Double l = capacity(capRows, LMS, m);
      Double p = capacity(capRows, PEKKO, m);
      Double so = capacity(capRows, SIO, m);
      Double c = capacity(capRows, CEILING, m);
      md.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", m, fmtInt(l), fmtInt(p),
          fmtInt(so), fmtInt(c), ratio(l, so), ratio(l, c), ratio(p, so), ratio(p, c)));
    });
    md.append("\nEvery step (also in each run's `capacity-*.json`, `steps`):\n\n");
    md.append("| members | server | step | offered /s | events/s | received /s | p50 ms | p99 ms | p99.9 ms | max ms | received / expected | server CPU % | server µs/delivery | driver CPU % | box busy % | held |\n");
    md.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |\n");
    caps.stream().filter(r -> !r.has("error"))
        .sorted(Comparator.comparingInt((JsonNode r) -> r.path("members").asInt()).thenComparingInt(r -> rank(r.path("server").asText())))
        .forEach(r -> r.path("steps").forEach(x -> md.append(String.format(Locale.ROOT,
            "| %d | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |\n",
            r.path("members").asInt(), r.path("server").asText(), x.path("step").asInt(),
            x.path("offered_deliveries_per_s").asLong(), fmt(x.path("events_per_s").asDouble()), jnum(x, "deliveries_per_s"),
            jnum(x, "p50_ms"), jnum(x, "p99_ms"), jnum(x, "p999_ms"), jnum(x, "max_ms"), jnum(x, "received"),
            jnum(x, "expected"), jnum(x, "server_cpu_pct"), jnum(x, "server_cpu_us_per_delivery"), jnum(x, "driver_cpu_pct"),
            jnum(x, "box_cpu_busy_pct"), x.path("held").asBoolean() ? "yes" : "**no**: " + x.path("why").asText()))));
  }

  /** The durable section (issue 14): one row per server, medians over its runs. */
  static void appendDurable(StringBuilder md, List<ObjectNode> rows, List<JsonNode> runs) {
    JsonNode any = runs.stream().filter(r -> !r.has("error")).findFirst().orElse(null);
    md.append("\n## Durable publish: many small durable rooms, the backend publishing at a fixed rate (issue 14)\n\n");
    if (any != null) {
      md.append(String.format(Locale.ROOT, "%d rooms (%s), %d members each (%d sockets, each its own user with the course in ",
          any.path("rooms").asInt(), any.path("room_names").asText(), any.path("members").asInt() / Math.max(1, any.path("rooms").asInt()),
          any.path("members").asInt()))
          .append(String.format(Locale.ROOT, "its token), the backend publishing %d events/s in all, round robin over the rooms, "
              + "on a fixed schedule (open loop) through an asynchronous HTTP/1.1 client with at most %d keep-alive connections "
              + "(one request in flight on each; a publish that finds them all busy waits, and its wait counts); %d s warm-up, "
              + "%d s measured, %d B bodies. ", any.path("rate").asInt(), any.path("publish_connections").asInt(),
              any.path("warmup_s").asInt(), any.path("seconds").asInt(), any.path("payload_bytes").asInt()));
    }
    md.append("A 503 or any other failure is counted, never retried. Before the members join, the driver pre-warms with ")
        .append(String.format(Locale.ROOT, "%,d", any == null ? 0 : any.path("prewarm").path("events").asInt()))
        .append(" publishes back to back over the rooms, at most as many in flight as connections (each room started and ")
        .append("its journal written before the window). ")
        .append("**publish** = from the event's stamp (`\"t\"` in its data, taken when it is due) to its `202` (the engine ")
        .append("numbered it and stored it in the journal first); **publish-to-delivery** = from the same stamp to the event ")
        .append("frame read by each member of its room. Both over the events published in the window. `events/s`: ")
        .append("events answered 2xx that were published in the window / its length. `CPU µs/event`: the server's ")
        .append("utime+stime over the window / those events (each also delivered to its room's members); `journal µs/event` ")
        .append("is the engine's plus the database's (PostgreSQL) minus `lms-realtime-memory`'s (the same jar, every room ")
        .append("in memory). H2 runs embedded in the engine (its CPU is in the engine's); PostgreSQL is a process tree of its ")
        .append("own (default settings, fsync on, a fresh server per run), its CPU (`database µs/event`: the postmaster and ")
        .append("its backends) beside the engine's. `JIT %`: the engine's JIT compiler threads over the window (% of a core), ")
        .append("`without JIT` the CPU per event without them (a fresh JVM still compiles in a short window). When a server ")
        .append("cannot keep up (`skipped` > 0, events/s below the offered rate), its latencies are those of a queue: it is ")
        .append("saturated on this 2-core box, shared with the driver.\n\n");
    md.append("| server | journal | publish p50 ms | publish p99 ms | publish max ms | publish-to-delivery p50 ms | p99 ms | max ms | events/s | errors | skipped | received / expected | server CPU µs/event | JIT % | without JIT µs/event | database µs/event | journal µs/event (without JIT) | server CPU % | box busy % | runs |\n");
    md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (ObjectNode r : rows) {
      md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s (%s) | %s | %s | %d%s |\n",
          r.path("server").asText(), r.path("journal").asText(), num(r, "publish_p50_ms"), num(r, "publish_p99_ms"),
          num(r, "publish_max_ms"), num(r, "p50_ms"), num(r, "p99_ms"), num(r, "max_ms"), num(r, "events_per_s"),
          num(r, "publish_errors"), num(r, "publish_skipped"), num(r, "received"), num(r, "expected"),
          num(r, "server_cpu_us_per_event"), num(r, "server_jit_cpu_pct"), num(r, "server_cpu_us_per_event_without_jit"),
          num(r, "db_cpu_us_per_event"), num(r, "journal_cpu_us_per_event"), num(r, "journal_cpu_us_per_event_without_jit"),
          num(r, "server_cpu_pct"), num(r, "box_cpu_busy_pct"), r.path("runs").asInt(),
          r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed: " + r.path("error").asText() + ")" : ""));
    }
    if (runs.stream().filter(r -> !r.has("error")).count() > rows.size()) {
      md.append("\nEvery run (by server, its repeats in order; the servers ran interleaved):\n\n");
      md.append("| server | publish p50 ms | publish p99 ms | publish-to-delivery p50 ms | p99 ms | events/s | errors | skipped | server CPU µs/event | without JIT | database µs/event | box busy % |\n");
      md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      runs.stream().filter(r -> !r.has("error")).forEach(r -> md.append(String.format(Locale.ROOT,
          "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.path("server").asText(), jnum(r, "publish_p50_ms"),
          jnum(r, "publish_p99_ms"), jnum(r, "p50_ms"), jnum(r, "p99_ms"), jnum(r, "events_per_s"), jnum(r, "publish_errors"),
          jnum(r, "publish_skipped"), jnum(r, "server_cpu_us_per_event"), jnum(r, "server_cpu_us_per_event_without_jit"),
          jnum(r, "db_cpu_us_per_event"), jnum(r, "box_cpu_busy_pct"))));
    }
  }

  static String journalOf(String server) {
    return switch (server) {
      case MEMORY -> "none (memory rooms)";
      case PG -> "PostgreSQL";
      case LMS, PEKKO -> "H2 (embedded)";
      default -> "?";
    };
  }

  /** The server CPU per delivery of each run of a group that could measure, in file (repeat) order. */
  static List<Double> runCpu(List<JsonNode> group) {
    return group == null ? List.of() : group.stream().filter(r -> !r.has("error") && r.path("server_cpu_us_per_delivery").isNumber())
        .map(r -> r.get("server_cpu_us_per_delivery").asDouble()).toList();
  }

  /** "1.02x, 0.98x": a JSON array of numbers, each with the suffix; "-" when empty. */
  static String list(JsonNode a, String suffix) {
    if (a == null || a.size() == 0) {
      return "-";
    }
    List<String> l = new ArrayList<>();
    a.forEach(v -> l.add(fmt(v.asDouble()) + suffix));
    return String.join(", ", l);
  }

  static Double capacity(List<ObjectNode> capRows, String server, int members) {
    return capRows.stream().filter(r -> r.path("server").asText().equals(server) && r.path("members").asInt() == members
        && r.hasNonNull("deliveries_per_s")).map(r -> r.get("deliveries_per_s").asDouble()).findFirst().orElse(null);
  }

  static ObjectNode row(List<ObjectNode> rows, String server) {
    return rows.stream().filter(r -> r.path("server").asText().equals(server)).findFirst().orElse(null);
  }

  /** a / b as "1.23x", or "-" when either is missing or b is 0. */
  static String ratio(Double a, Double b) {
    return a == null || b == null || b == 0 ? "-" : fmt(a / b) + "x";
  }

  static String fmtInt(Double v) {
    return v == null ? "-" : String.format(Locale.ROOT, "%,d", Math.round(v));
  }

  static String jnum(JsonNode r, String f) {
    JsonNode n = r.get(f);
    if (n == null || n.isNull()) {
      return "-";
    }
    return n.isIntegralNumber() ? String.valueOf(n.asLong()) : fmt(n.asDouble());
  }

  /** One row per server (and the given size fields): the median of each field over its runs without error. */
  static List<ObjectNode> summarise(ObjectMapper json, List<JsonNode> runs, List<String> fields, String... keys) {
    Map<String, List<JsonNode>> groups = new LinkedHashMap<>();
    runs.stream()
        .sorted(Comparator.comparingInt((JsonNode r) -> rank(r.path("server").asText())))
        .forEach(r -> {
          StringBuilder k = new StringBuilder(r.path("server").asText());
          for (String f : keys) {
            k.append('|').append(r.path(f).asText());
          }
          groups.computeIfAbsent(k.toString(), x -> new ArrayList<>()).add(r);
        });
    List<ObjectNode> rows = new ArrayList<>();
    for (List<JsonNode> g : groups.values()) {
      JsonNode first = g.get(0);
      ObjectNode row = json.createObjectNode();
      row.put("server", first.path("server").asText());
      for (String f : keys) {
        row.set(f, first.path(f).deepCopy());
      }
      List<JsonNode> ok = g.stream().filter(r -> !r.has("error")).toList();
      row.put("runs", ok.size());
      if (ok.size() < g.size()) {
        row.put("failed_runs", g.size() - ok.size());
        row.put("error", g.stream().filter(r -> r.has("error")).findFirst().get().path("error").asText());
      }
      for (String f : fields) {
        List<Double> v = ok.stream().map(r -> r.get(f)).filter(n -> n != null && n.isNumber())
            .map(JsonNode::asDouble).sorted().toList();
        putMedian(row, f, v);
      }
      rows.add(row);
    }
    return rows;
  }

  static void putMedian(ObjectNode row, String f, List<Double> sorted) {
    if (sorted.isEmpty()) {
      row.putNull(f);
      return;
    }
    int n = sorted.size();
    double m = n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    if (INTEGRAL.contains(f)) {
      row.put(f, Math.round(m));
    } else {
      row.put(f, Math.round(m * 1000) / 1000.0);
    }
  }

  static void copyOrNull(ObjectNode into, String name, ObjectNode from, String field) {
    if (from == null || !from.hasNonNull(field)) {
      into.putNull(name);
    } else {
      into.set(name, from.get(field).deepCopy());
    }
  }

  static String relative(Path from, Path to) {
    String s = from.relativize(to).toString().replace('\\', '/');
    return s.isEmpty() ? "" : s + "/";
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

package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Rewrites the README's Performance block, the lines between {@code <!-- perf:begin ... -->} and
 * {@code <!-- perf:end -->}, from {@code bench/results/latest.json} alone: the run (its command, date,
 * mode and report, from latest.json's {@code run}), one table of issue 11's and issue 23's goals as that
 * run measured them (met, not met, not measured), the plots that run wrote, and a link to the history in
 * {@code bench/README.md}. So the README can only show one run, and the run it names. {@code bench/run.sh}
 * calls it after every run; alone: {@code bench/run.sh --readme-only}, or
 *
 * <pre>java -cp bench/target/lms-bench.jar lms.bench.Readme [--json bench/results/latest.json] [--readme README.md] [--check]</pre>
 *
 * {@code --check} writes nothing and exits 1 when the block differs from what latest.json gives.
 */
public final class Readme {

  static final String BEGIN = "<!-- perf:begin";
  static final String END = "<!-- perf:end -->";
  static final String BEGIN_LINE = BEGIN + ": generated from bench/results/latest.json by bench/run.sh (lms.bench.Readme); "
      + "edits between these markers are overwritten -->";
  /** What each plot shows, as its alt text; a plot not named here shows its file name. */
  static final Map<String, String> PLOT_TITLES = new LinkedHashMap<>();

  static {
    PLOT_TITLES.put("latency.png", "fan-out: publish-to-delivery latency percentiles");
    PLOT_TITLES.put("throughput.png", "fan-out: deliveries per second");
    PLOT_TITLES.put("cpu-per-delivery.png", "fan-out: server CPU per delivery");
    PLOT_TITLES.put("bytes-per-socket.png", "heap + native bytes per idle joined socket");
    PLOT_TITLES.put("handshakes.png", "handshakes per second");
    PLOT_TITLES.put("capacity.png", "capacity at p99 <= 50 ms");
    PLOT_TITLES.put("capacity-steps.png", "p99 at each capacity step");
    PLOT_TITLES.put("durable.png", "durable publish");
    PLOT_TITLES.put("publish.png", "publishes per second and CPU per publish");
    PLOT_TITLES.put("lms-day.png", "a learning platform's day: p99 per step");
  }

  /** One goal as the README shows it. */
  record Row(String issue, String goal, String measured, String verdict, Integer members) {
    boolean measuredInRun() {
      return !verdict.equals(NOT_MEASURED);
    }
  }

  static final String MET = "**met**";
  static final String NOT_MET = "not met";
  static final String NOT_MEASURED = "not measured";

  private Readme() { }

  public static void main(String[] args) throws IOException {
    Map<String, String> o = new LinkedHashMap<>();
    boolean check = false;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--check")) {
        check = true;
      } else if (i + 1 < args.length) {
        o.put(args[i], args[++i]);
      }
    }
    Path json = Path.of(o.getOrDefault("--json", "bench/results/latest.json")).toAbsolutePath().normalize();
    Path readme = Path.of(o.getOrDefault("--readme", "README.md")).toAbsolutePath().normalize();
    JsonNode latest = new ObjectMapper().readTree(json.toFile());
    String text = Files.readString(readme);
    String updated = rewritten(text, latest, readme.getParent(), json);
    if (updated == null) {
      System.err.println("readme: " + readme + " has no " + BEGIN + " ... --> / " + END + " pair of lines: nothing written");
      System.exit(1);
    }
    String run = " from " + json + " (run " + latest.path("run").path("stamp").asText("not recorded") + ")";
    if (check) { // --check: write nothing; exit 1 when the block is not what latest.json gives
      System.out.println("readme: " + readme + ": Performance block " + (updated.equals(text) ? "matches" : "DIFFERS from what it would be") + run);
      System.exit(updated.equals(text) ? 0 : 1);
    }
    if (!updated.equals(text)) {
      Files.writeString(readme, updated);
    }
    System.out.println("readme: " + readme + ": Performance block " + (updated.equals(text) ? "unchanged" : "rewritten") + run);
  }

  /** {@code readme} with its block written from {@code latest}; null when it has no pair of markers. */
  static String rewritten(String readme, JsonNode latest, Path readmeDir, Path json) {
    int begin = readme.indexOf(BEGIN);
    int end = readme.indexOf(END);
    if (begin < 0 || end < begin) {
      return null;
    }
    String block = BEGIN_LINE + "\n" + block(latest, readmeDir, json) + END;
    return readme.substring(0, begin) + block + readme.substring(end + END.length());
  }

  /** The block's lines, links relative to the README's directory. */
  static String block(JsonNode latest, Path readmeDir, Path json) {
    JsonNode run = latest.path("run");
    Path results = json.getParent();
    StringBuilder md = new StringBuilder();
    if (run.isMissingNode()) {
      md.append("**The run:** not recorded: this `latest.json` predates run records (run `bench/run.sh` again).\n");
    } else {
      md.append("**The run:** `").append(run.path("command").asText("bench/run.sh (command not recorded)")).append("`, ")
          .append(run.path("date_utc").asText("date not recorded")).append(" UTC, `").append(run.path("mode").asText("?"))
          .append("` mode: its report [`").append(link(readmeDir, results.resolve(run.path("report").asText()))).append("`](")
          .append(link(readmeDir, results.resolve(run.path("report").asText()))).append("), its figures [`")
          .append(link(readmeDir, json)).append("`](").append(link(readmeDir, json)).append(")");
      if (run.hasNonNull("recorded")) {
        md.append(" (run record ").append(run.path("recorded").asText()).append(")");
      }
      md.append(".\n");
    }
    md.append("History and the older runs: [`bench/README.md`](")
        .append(link(readmeDir, results.getParent().resolve("README.md"))).append("#history); how each figure is measured: ")
        .append("the same file's scenarios.\n\n");
    md.append("| issue | goal | measured in this run | verdict |\n| --- | --- | --- | --- |\n");
    List<Row> rows = new ArrayList<>();
    rows.addAll(collapsed("11", issue11(latest), "CPU per delivery, capacity, memory and idle CPU per socket, handshakes",
        "`fanout`, `capacity`, `hold`, `handshake`"));
    rows.addAll(collapsed("23", issue23(latest), "publish CPU and rate, the batch call, a learning platform's day",
        "`publish`, `lms-day`: `bench/run.sh --quick --scenarios \"publish lms-day\"`"));
    for (Row r : rows) {
      md.append("| ").append(r.issue()).append(" | ").append(r.goal()).append(" | ").append(r.measured()).append(" | ")
          .append(r.verdict()).append(" |\n");
    }
    md.append("\n");
    plots(md, run, readmeDir, results);
    return md.toString();
  }

  /** Issue 11's goals, from {@code issue_11_goals}; a capacity of 0 is below the first step, never met. */
  static List<Row> issue11(JsonNode latest) {
    List<Row> rows = new ArrayList<>();
    for (JsonNode g : latest.path("issue_11_goals")) {
      String text = g.path("goal").asText();
      String measured = g.path("lms_realtime_measured").asText();
      String verdict = verdict(g.path("met"));
      if (text.startsWith("capacity")) {
        JsonNode lms = capacityRow(latest, Report.LMS, g.path("members").asInt());
        if (lms != null && lms.path("deliveries_per_s").isNumber() && lms.path("deliveries_per_s").asLong() == 0) {
          String peer = text.contains("Socket.IO") ? Report.SIO : Report.CEILING;
          JsonNode p = capacityRow(latest, peer, g.path("members").asInt());
          measured = "below the first step (" + firstFailed(lms) + ")" + (p == null ? "" : String.format(Locale.ROOT,
              "; %s: %,d deliveries/s", peer.equals(Report.SIO) ? "Socket.IO" : "the ceiling", p.path("deliveries_per_s").asLong()));
          verdict = NOT_MET;
        }
      }
      rows.add(new Row("11", pretty(text), pretty(measured), verdict, g.hasNonNull("members") ? g.path("members").asInt() : null));
    }
    return rows;
  }

  /** Issue 23's goals, from {@code issue_23_goals}; an lms-day capacity of 0 is below the first step, never met. */
  static List<Row> issue23(JsonNode latest) {
    List<Row> rows = new ArrayList<>();
    for (JsonNode g : latest.path("issue_23_goals")) {
      String text = g.path("goal").asText();
      String measured = g.path("measured").asText();
      String verdict = verdict(g.path("met"));
      if (text.startsWith("lms-day capacity")) {
        String server = text.contains("PostgreSQL") ? Report.PG : Report.LMS;
        for (JsonNode d : latest.path("lms_day")) {
          if (d.path("server").asText().equals(server) && d.path("capacity_multiplier").isNumber()
              && d.path("capacity_multiplier").asDouble() == 0) {
            JsonNode f = d.path("first_failed_step");
            measured = "below the first step (x" + f.path("multiplier").asText("?") + ": " + f.path("why").asText("?") + ")";
            verdict = NOT_MET;
          }
        }
      }
      rows.add(new Row("23", pretty(text), pretty(measured), verdict, null));
    }
    return rows;
  }

  /**
   * An issue whose goals this run measured none of is one row. Otherwise a row per goal measured, and
   * the goals not measured for the same reason (the full mode's room sizes in a quick run) share one.
   */
  static List<Row> collapsed(String issue, List<Row> rows, String what, String scenarios) {
    if (rows.stream().noneMatch(Row::measuredInRun)) {
      return List.of(new Row(issue, (rows.isEmpty() ? "" : rows.size() + " ") + "goals: " + what,
          "no lms-realtime figure for them in this run (" + scenarios + ")", NOT_MEASURED, null));
    }
    List<Row> out = new ArrayList<>();
    Map<String, List<Row>> unmeasured = new LinkedHashMap<>();
    for (Row r : rows) {
      if (r.measuredInRun()) {
        out.add(r);
      } else {
        List<Row> same = unmeasured.computeIfAbsent(r.measured(), k -> new ArrayList<>());
        if (same.isEmpty()) {
          out.add(r); // the group's place: its first goal's
        }
        same.add(r);
      }
    }
    out.replaceAll(r -> r.measuredInRun() || unmeasured.get(r.measured()).size() == 1 ? r : merged(unmeasured.get(r.measured())));
    return out;
  }

  /** "4 goals at 5,000 and 10,000 members": goals not measured for one reason. */
  static Row merged(List<Row> same) {
    List<String> sizes = same.stream().map(Row::members).filter(m -> m != null).distinct().sorted()
        .map(m -> String.format(Locale.ROOT, "%,d", m)).toList();
    String at = sizes.isEmpty() || same.stream().anyMatch(r -> r.members() == null) ? ""
        : " at " + String.join(" and ", sizes) + " members";
    return new Row(same.get(0).issue(), same.size() + " goals" + at, same.get(0).measured(), NOT_MEASURED, null);
  }

  static String verdict(JsonNode met) {
    if (met.isBoolean()) {
      return met.asBoolean() ? MET : NOT_MET;
    }
    return NOT_MEASURED;
  }

  static JsonNode capacityRow(JsonNode latest, String server, int members) {
    for (JsonNode r : latest.path("capacity")) {
      if (r.path("server").asText().equals(server) && r.path("members").asInt() == members) {
        return r;
      }
    }
    return null;
  }

  /** "p99 59.7 ms at 20,000/s": the first step that did not hold. */
  static String firstFailed(JsonNode capRow) {
    JsonNode f = capRow.path("first_failed_step");
    if (f.isMissingNode() || f.isNull()) {
      return "no step recorded";
    }
    String why = f.path("p99_ms").isNumber()
        ? String.format(Locale.ROOT, "p99 %.1f ms", f.path("p99_ms").asDouble()) : f.path("why").asText();
    return String.format(Locale.ROOT, "%s at %,d/s", why, f.path("offered_deliveries_per_s").asLong());
  }

  /** The plots the run wrote, in its order: the first alone, the others two by two. */
  static void plots(StringBuilder md, JsonNode run, Path readmeDir, Path results) {
    List<String> cells = new ArrayList<>();
    for (JsonNode p : run.path("plots")) {
      Path file = results.resolve(p.asText());
      if (!Files.isRegularFile(file)) {
        System.err.println("readme: " + file + " is listed in latest.json's run but missing: left out");
        continue;
      }
      String name = file.getFileName().toString();
      cells.add("![" + PLOT_TITLES.getOrDefault(name, name) + "](" + link(readmeDir, file) + ")");
    }
    if (cells.isEmpty()) {
      md.append("This run wrote no plots.\n");
      return;
    }
    md.append(cells.get(0)).append("\n");
    if (cells.size() > 1) {
      md.append("\n| | |\n| --- | --- |\n");
      for (int i = 1; i < cells.size(); i += 2) {
        md.append("| ").append(cells.get(i)).append(" | ").append(i + 1 < cells.size() ? cells.get(i + 1) : "").append(" |\n");
      }
    }
  }

  static String link(Path from, Path to) {
    return from.relativize(to.toAbsolutePath().normalize()).toString().replace('\\', '/');
  }

  /** The report's ASCII comparisons as a reader writes them; a pipe would end a table cell. */
  static String pretty(String s) {
    return s.replace("<=", "≤").replace(">=", "≥").replace("|", "\\|");
  }
}

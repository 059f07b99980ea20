package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Issue 24's part of the report: fan-out and hold with SSE members ({@code member_kind} {@code sse} in the
 * run files, {@code bench/run.sh --member-kinds "ws sse"}) beside the WebSocket members of the same run and
 * engine. In {@code latest.json}: {@code member_kinds} (the fan-out and hold rows of both kinds, each with its
 * {@code member_kind}) and {@code issue_24_goals}: per engine, an idle SSE connection's heap + native bytes and
 * its idle CPU at most 1.25x an idle WebSocket's, and fan-out CPU per delivery to SSE members at most 1.25x
 * WebSocket members', each a ratio of two figures of this run. The idle CPU compared is per connection:
 * (the hold's idle CPU at N connections - at 0) / N, the server's fixed cost left out. A kind that could not
 * be measured (an engine without {@code /sse} answers 404: no member joins) is "not measured" with the reason.
 */
final class Issue24 {

  static final double SSE_VS_WS = 1.25;

  /** The SSE side of the run and what it gives: its rows, the WebSocket rows beside them, the goals. */
  record Summary(boolean asked, List<ObjectNode> fanout, List<ObjectNode> hold, List<ObjectNode> goals) { }

  private Issue24() { }

  static boolean isSse(JsonNode run) {
    return "sse".equals(run.path("member_kind").asText());
  }

  /** Takes the SSE run files out of {@code runs} (the other sections read WebSocket members only) and returns them. */
  static List<JsonNode> takeSse(List<JsonNode> runs) {
    List<JsonNode> sse = new ArrayList<>();
    for (Iterator<JsonNode> it = runs.iterator(); it.hasNext(); ) {
      JsonNode r = it.next();
      if (isSse(r)) {
        sse.add(r);
        it.remove();
      }
    }
    return sse;
  }

  /**
   * @param wsFanout the report's fan-out rows (WebSocket members); @param wsHold its hold rows; the SSE
   * run files as they are.
   */
  static Summary summarise(ObjectMapper json, List<ObjectNode> wsFanout, List<ObjectNode> wsHold, List<JsonNode> sseRuns,
                           List<JsonNode> sseHolds) {
    List<ObjectNode> fanout = new ArrayList<>();
    List<ObjectNode> hold = new ArrayList<>();
    List<ObjectNode> sseFanout = Report.summarise(json, sseRuns, Report.MEDIAN_FIELDS, "members", "rate");
    List<ObjectNode> sseHold = Report.summarise(json, sseHolds, Report.HOLD_FIELDS, "members");
    Set<String> engines = new LinkedHashSet<>();
    sseFanout.forEach(r -> engines.add(r.path("server").asText()));
    sseHold.forEach(r -> engines.add(r.path("server").asText()));
    for (String server : engines) { // each engine's WebSocket rows first, then its SSE rows
      wsFanout.stream().filter(r -> r.path("server").asText().equals(server)).forEach(r -> fanout.add(kind(r, "ws")));
      sseFanout.stream().filter(r -> r.path("server").asText().equals(server)).forEach(r -> fanout.add(kind(r, "sse")));
      wsHold.stream().filter(r -> r.path("server").asText().equals(server)).forEach(r -> hold.add(perConnection(kind(r, "ws"))));
      sseHold.stream().filter(r -> r.path("server").asText().equals(server)).forEach(r -> hold.add(perConnection(kind(r, "sse"))));
    }
    boolean asked = !sseRuns.isEmpty() || !sseHolds.isEmpty();
    List<ObjectNode> goals = new ArrayList<>();
    if (!asked) {
      String why = "not in this run (bench/run.sh --member-kinds \"ws sse\")";
      goals.add(goal(json, Report.LMS, "an idle SSE connection's heap + native bytes <= 1.25x an idle WebSocket's (hold)", null, null, why));
      goals.add(goal(json, Report.LMS, "an idle SSE connection's CPU <= 1.25x an idle WebSocket's (hold)", null, null, why));
      goals.add(goal(json, Report.LMS, "fan-out: server CPU per delivery to SSE members <= 1.25x to WebSocket members", null, null, why));
    }
    for (String server : engines) {
      ObjectNode ws = find(hold, server, "ws", -1, -1);
      ObjectNode sse = find(hold, server, "sse", -1, -1);
      goals.add(compare(json, server, "an idle SSE connection's heap + native bytes <= 1.25x an idle WebSocket's (hold)",
          ws, sse, "bytes_per_socket", " B", sseHolds, "hold"));
      goals.add(compare(json, server, "an idle SSE connection's CPU <= 1.25x an idle WebSocket's (hold: (at N - at 0) / N)",
          ws, sse, "idle_cpu_us_per_connection_s", " µs/s", sseHolds, "hold"));
      List<ObjectNode> sizes = fanout.stream().filter(r -> r.path("server").asText().equals(server)
          && r.path("member_kind").asText().equals("sse")).toList();
      for (ObjectNode s : sizes) {
        int m = s.path("members").asInt();
        int rate = s.path("rate").asInt();
        goals.add(compare(json, server, String.format(Locale.ROOT,
                "fan-out: server CPU per delivery to SSE members <= 1.25x to WebSocket members, %,d members at %d events/s", m, rate),
            find(fanout, server, "ws", m, rate), s, "server_cpu_us_per_delivery", " µs", sseRuns, "fan-out"));
      }
    }
    return new Summary(asked, fanout, hold, goals);
  }

  static ObjectNode kind(ObjectNode row, String kind) {
    ObjectNode r = row.deepCopy();
    r.put("member_kind", kind);
    return r;
  }

  /** The idle CPU one connection costs: (idle CPU at N - at 0) / N, in µs of CPU per second (at N alone without a 0 figure). */
  static ObjectNode perConnection(ObjectNode hold) {
    Double atN = Goals.value(hold, "idle_cpu_pct");
    Double at0 = Goals.value(hold, "idle_cpu_pct_at_0");
    Double n = Goals.value(hold, "idle_cpu_sockets");
    if (atN == null || n == null || n <= 0) {
      hold.putNull("idle_cpu_us_per_connection_s");
    } else {
      double us = (atN - (at0 == null ? 0 : at0)) / 100 * 1e6 / n;
      hold.put("idle_cpu_us_per_connection_s", Math.round(us * 1000) / 1000.0);
    }
    return hold;
  }

  static ObjectNode find(List<ObjectNode> rows, String server, String kind, int members, int rate) {
    return rows.stream().filter(r -> r.path("server").asText().equals(server) && r.path("member_kind").asText().equals(kind)
        && (members < 0 || r.path("members").asInt() == members && r.path("rate").asInt() == rate)).findFirst().orElse(null);
  }

  /** One goal: SSE's figure / WebSocket's, met when at most 1.25; "not measured" with the reason when either is missing. */
  static ObjectNode compare(ObjectMapper json, String server, String text, ObjectNode ws, ObjectNode sse, String field,
                            String unit, List<JsonNode> sseRaw, String scenario) {
    Double w = Goals.value(ws, field);
    Double s = Goals.value(sse, field);
    if (s == null) {
      return goal(json, server, text, null, null, "not measured: no SSE figure (" + why(sse, sseRaw, server, scenario) + ")");
    }
    if (w == null) {
      return goal(json, server, text, null, null, "not measured: no WebSocket figure of " + server + " in this run ("
          + (ws == null ? "ws members not run" : ws.path("error").asText("no figure")) + ")");
    }
    if (w <= 0) {
      return goal(json, server, text, null, null, String.format(Locale.ROOT,
          "no ratio: the WebSocket figure is %s%s (within the measure's resolution); SSE %s%s", Report.fmt(w), unit, Report.fmt(s), unit));
    }
    double ratio = s / w;
    return goal(json, server, text, ratio, ratio <= SSE_VS_WS, String.format(Locale.ROOT, "%sx (SSE %s%s vs WebSocket %s%s)",
        Report.fmt(ratio), Report.fmt(s), unit, Report.fmt(w), unit));
  }

  /** Why the SSE figure is missing: the row's error and the first failure of its first failed run. */
  static String why(ObjectNode row, List<JsonNode> raw, String server, String scenario) {
    String error = row == null ? "no " + scenario + " run with SSE members" : row.path("error").asText("no figure");
    for (JsonNode r : raw) {
      if (r.path("server").asText().equals(server) && r.has("error")) {
        Iterator<String> f = r.path("failures").fieldNames();
        if (f.hasNext()) {
          return error + ": " + f.next();
        }
      }
    }
    return error;
  }

  /** Issue 23's goal object, with the engine it is of. */
  static ObjectNode goal(ObjectMapper json, String server, String text, Double ratio, Boolean met, String measured) {
    return Issue23.goal(json, text, "<= 1.25x", ratio, met, measured).put("server", server);
  }

  static void putJson(ObjectNode latest, Summary s) {
    ObjectNode kinds = latest.putObject("member_kinds");
    kinds.putArray("fanout").addAll(s.fanout());
    kinds.putArray("hold").addAll(s.hold());
    ArrayNode goals = latest.putArray("issue_24_goals");
    goals.addAll(s.goals());
  }

  static void append(StringBuilder md, Summary s) {
    md.append("\n## Issue 24's goals: SSE members vs WebSocket members, as measured in this run\n\n");
    if (s.asked()) {
      md.append("Each engine ran `fanout` and `hold` once per member kind (`bench/run.sh --member-kinds \"ws sse\"`), a fresh ")
            .append("server each time: WebSocket members as in the rest of the report, and SSE members (the HTTP fallback, contract ")
            .append("§10): `GET /sse?token=…`, the event stream read as it comes (the timestamp found in each `data:` line's bytes, ")
            .append("as in a WebSocket frame's), every client frame (the join, a `ping` every 20 s, the hold's last ping) POSTed to ")
            .append("the welcome's `postUrl` with its `postToken` over 32 keep-alive connections shared by the driver's members. ")
            .append("Idle CPU per connection = (the hold's idle CPU at N connections − at 0) / N, in µs of CPU per second: the ")
            .append("server's fixed cost left out. Ratios are SSE / WebSocket of the same run (lower is better).\n\n");
    }
    md.append("| goal | server | measured | met? |\n| --- | --- | --- | --- |\n");
    for (ObjectNode g : s.goals()) {
      JsonNode met = g.get("met");
      md.append("| ").append(g.path("goal").asText()).append(" | ").append(g.path("server").asText()).append(" | ")
          .append(g.path("measured").asText()).append(" | ")
          .append(met == null || met.isNull() ? "-" : met.asBoolean() ? "yes" : "**no**").append(" |\n");
    }
    if (!s.fanout().isEmpty()) {
      md.append("\nFan-out by member kind (medians over the runs):\n\n");
      md.append("| members | server | kind | rate /s | deliveries/s | p50 ms | p99 ms | max ms | server CPU µs/delivery | server CPU % | driver CPU % | box busy % | received / expected | runs |\n");
      md.append("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n");
      for (ObjectNode r : s.fanout()) {
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %d%s |\n",
            Report.num(r, "members"), r.path("server").asText(), r.path("member_kind").asText(), Report.num(r, "rate"),
            Report.num(r, "deliveries_per_s"), Report.num(r, "p50_ms"), Report.num(r, "p99_ms"), Report.num(r, "max_ms"),
            Report.num(r, "server_cpu_us_per_delivery"), Report.num(r, "server_cpu_pct"), Report.num(r, "driver_cpu_pct"),
            Report.num(r, "box_cpu_busy_pct"), Report.num(r, "received"), Report.num(r, "expected"), r.path("runs").asInt(),
            failed(r)));
      }
    }
    if (!s.hold().isEmpty()) {
      md.append("\nHold by member kind:\n\n");
      md.append("| server | kind | held | bytes / connection | heap | native | idle CPU % at N | at 0 | idle µs/s per connection | ramp s | unexpected closes | runs |\n");
      md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      for (ObjectNode r : s.hold()) {
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d%s |\n",
            r.path("server").asText(), r.path("member_kind").asText(), Report.num(r, "sockets_held"),
            Report.num(r, "bytes_per_socket"), Report.num(r, "heap_bytes_per_socket"), Report.num(r, "native_bytes_per_socket"),
            Report.num(r, "idle_cpu_pct"), Report.num(r, "idle_cpu_pct_at_0"), Report.num(r, "idle_cpu_us_per_connection_s"),
            Report.num(r, "ramp_seconds"), Report.num(r, "unexpected_closes"), r.path("runs").asInt(), failed(r)));
      }
    }
  }

  static String failed(ObjectNode r) {
    return r.has("failed_runs") ? " (+" + r.get("failed_runs").asInt() + " failed" + (r.has("error") ? ": " + r.path("error").asText() : "") + ")" : "";
  }
}

package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Issue 23's part of the report: the {@code publish} and {@code lms-day} run files summarised for
 * {@code latest.json} ({@code publish}, {@code lms_day}, {@code issue_23_goals}), their sections and goals
 * table in the {@code .md}, and their plots ({@code publish.png}, {@code lms-day.png}). One run per server
 * (each a server process of its own); no medians.
 */
final class Issue23 {

  static final double DURABLE_CPU_VS_MEMORY = 1.5;
  static final double MEMORY_CPU_VS_SIO = 2;
  static final double DURABLE_PUBLISHES_PER_S = 10_000;
  static final double BATCH_NOTIFICATIONS_PER_S = 50_000;
  static final double DAY_VS_SIO = 1.0;
  static final int GOAL_ROOMS = 1000;
  static final List<String> PUBLISH_FIELDS = List.of("publishes_per_s", "server_cpu_us_per_publish", "db_cpu_us_per_publish",
      "server_and_db_cpu_us_per_publish", "server_cpu_us_per_publish_without_jit", "server_jit_cpu_pct", "p50_ms", "p90_ms",
      "p99_ms", "max_ms", "errors", "server_cpu_pct", "db_cpu_pct", "driver_cpu_pct", "driver_cpu_us_per_publish",
      "box_cpu_busy_pct");
  static final List<String> BATCH_FIELDS = List.of("available", "why", "users_online", "batch_size", "notifications_per_s",
      "items_accepted", "item_errors", "call_errors", "call_p50_ms", "call_p99_ms", "delivery_p50_ms", "delivery_p99_ms",
      "expected_deliveries", "received", "lost", "server_cpu_us_per_notification", "db_cpu_us_per_notification",
      "server_and_db_cpu_us_per_notification", "server_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct");
  static final List<String> DAY_FIELDS = List.of("students", "instructors", "courses", "sockets_ready", "join_seconds",
      "notifications_via", "base_messages_per_s", "capacity_multiplier", "capacity_messages_per_s", "capacity_deliveries_per_s",
      "at_top_step", "steps_held", "steps_tried", "server_cpu_pct", "server_cpu_us_per_message", "first_failed_step", "error");

  /** What this run measured: the rows of latest.json and the goals. */
  record Summary(List<ObjectNode> calls, List<ObjectNode> batches, List<ObjectNode> days, List<ObjectNode> goals) { }

  private Issue23() { }

  static Summary summarise(ObjectMapper json, List<JsonNode> publishes, List<JsonNode> days) {
    List<ObjectNode> calls = new ArrayList<>();
    List<ObjectNode> batches = new ArrayList<>();
    for (JsonNode r : sorted(publishes)) {
      String server = r.path("server").asText();
      if (r.has("error") && !r.has("phases")) {
        ObjectNode x = json.createObjectNode();
        x.put("server", server);
        x.put("error", r.path("error").asText());
        calls.add(x);
        continue;
      }
      for (JsonNode p : r.path("phases")) {
        ObjectNode x = json.createObjectNode();
        x.put("server", server);
        x.put("journal", journal(server));
        x.put("rooms", p.path("rooms").asInt());
        x.put("connections", r.path("connections").asInt());
        x.put("seconds", r.path("seconds").asInt());
        copy(x, p, PUBLISH_FIELDS);
        calls.add(x);
      }
      JsonNode b = r.get("batch");
      if (b != null) {
        ObjectNode x = json.createObjectNode();
        x.put("server", server);
        x.put("journal", journal(server));
        copy(x, b, BATCH_FIELDS);
        batches.add(x);
      }
    }
    List<ObjectNode> dayRows = new ArrayList<>();
    for (JsonNode r : sorted(days)) {
      ObjectNode x = json.createObjectNode();
      x.put("server", r.path("server").asText());
      x.put("journal", journal(r.path("server").asText()));
      copy(x, r, DAY_FIELDS);
      JsonNode held = null;
      for (JsonNode s : r.path("steps")) {
        if (s.path("held").asBoolean()) {
          held = s;
        }
      }
      if (held != null) { // each class's p99 at the capacity step
        for (String k : LmsDay.CLASS) {
          x.set(k + "_p99_ms", held.path(k).path("p99_ms").deepCopy());
        }
        x.set("db_cpu_pct", held.path("db_cpu_pct").deepCopy());
      }
      dayRows.add(x);
    }
    return new Summary(calls, batches, dayRows, goals(json, calls, batches, dayRows));
  }

  static List<JsonNode> sorted(List<JsonNode> runs) {
    return runs.stream().sorted(Comparator.comparingInt(r -> Report.rank(r.path("server").asText()))).toList();
  }

  static void copy(ObjectNode into, JsonNode from, List<String> fields) {
    for (String f : fields) {
      if (from.has(f)) {
        into.set(f, from.get(f).deepCopy());
      }
    }
  }

  static String journal(String server) {
    return switch (server) {
      case Report.SIO -> "none (Socket.IO, in memory)";
      case Report.CEILING -> "none (the floor: HTTP + JSON parse)";
      default -> Report.journalOf(server);
    };
  }

  static ObjectNode call(List<ObjectNode> calls, String server, int rooms) {
    return calls.stream().filter(c -> c.path("server").asText().equals(server) && c.path("rooms").asInt() == rooms)
        .findFirst().orElse(null);
  }

  /** A durable engine's CPU per publish, PostgreSQL's own added (the goal counts it). */
  static Double cpuWithDb(ObjectNode c) {
    Double v = Goals.value(c, "server_and_db_cpu_us_per_publish");
    return v != null ? v : Goals.value(c, "server_cpu_us_per_publish");
  }

  static ObjectNode goal(ObjectMapper json, String text, String target, Double ratio, Boolean met, String measured) {
    ObjectNode g = json.createObjectNode();
    g.put("goal", text);
    g.put("target", target);
    if (ratio == null) {
      g.putNull("ratio");
    } else {
      g.put("ratio", Math.round(ratio * 1000) / 1000.0);
    }
    if (met == null) {
      g.putNull("met");
    } else {
      g.put("met", met);
    }
    g.put("measured", measured);
    return g;
  }

  static List<ObjectNode> goals(ObjectMapper json, List<ObjectNode> calls, List<ObjectNode> batches, List<ObjectNode> days) {
    List<ObjectNode> goals = new ArrayList<>();
    ObjectNode mem = call(calls, Report.MEMORY, GOAL_ROOMS);
    Double memCpu = Goals.value(mem, "server_cpu_us_per_publish");
    for (String server : List.of(Report.LMS, Report.PG)) {
      String text = "durable publish CPU <= 1.5x memory rooms' (" + (server.equals(Report.PG)
          ? "PostgreSQL, its own CPU counted" : "H2") + "), 1,000 rooms";
      Double v = cpuWithDb(call(calls, server, GOAL_ROOMS));
      if (v == null || memCpu == null || memCpu <= 0) {
        goals.add(goal(json, text, "<= 1.5x", null, null, v == null ? "no " + server + " figure in this run"
            : "no " + Report.MEMORY + " figure in this run"));
      } else {
        goals.add(goal(json, text, "<= 1.5x", v / memCpu, v / memCpu <= DURABLE_CPU_VS_MEMORY,
            String.format(Locale.ROOT, "%sx (%s vs %s µs per publish)", Report.fmt(v / memCpu), Report.fmt(v), Report.fmt(memCpu))));
      }
    }
    Double sio = Goals.value(call(calls, Report.SIO, GOAL_ROOMS), "server_cpu_us_per_publish");
    String sioText = "memory-room publish CPU <= 2x Socket.IO's, 1,000 rooms";
    if (memCpu == null || sio == null || sio <= 0) {
      goals.add(goal(json, sioText, "<= 2x", null, null, "no " + (memCpu == null ? Report.MEMORY : Report.SIO) + " figure in this run"));
    } else {
      goals.add(goal(json, sioText, "<= 2x", memCpu / sio, memCpu / sio <= MEMORY_CPU_VS_SIO,
          String.format(Locale.ROOT, "%sx (%s vs %s µs per publish)", Report.fmt(memCpu / sio), Report.fmt(memCpu), Report.fmt(sio))));
    }
    for (String server : List.of(Report.LMS, Report.PG)) {
      String text = "durable publishes/s >= 10,000 over 1,000 rooms (" + (server.equals(Report.PG) ? "PostgreSQL" : "H2") + ")";
      Double v = Goals.value(call(calls, server, GOAL_ROOMS), "publishes_per_s");
      goals.add(v == null ? goal(json, text, ">= 1x of 10,000/s", null, null, "no " + server + " figure in this run")
          : goal(json, text, ">= 1x of 10,000/s", v / DURABLE_PUBLISHES_PER_S, v >= DURABLE_PUBLISHES_PER_S,
              String.format(Locale.ROOT, "%s (%,d publishes/s)", Goals.x(v / DURABLE_PUBLISHES_PER_S), Math.round(v))));
    }
    for (String server : List.of(Report.LMS, Report.PG, Report.MEMORY)) {
      String text = "batch: notifications/s to online users >= 50,000, batches of 100 (" + server + ")";
      ObjectNode b = batches.stream().filter(x -> x.path("server").asText().equals(server)).findFirst().orElse(null);
      Double v = Goals.value(b, "notifications_per_s");
      if (b == null) {
        goals.add(goal(json, text, ">= 1x of 50,000/s", null, null, "no " + server + " figure in this run"));
      } else if (!b.path("available").asBoolean(true)) {
        goals.add(goal(json, text, ">= 1x of 50,000/s", null, Boolean.FALSE, "no batch call: " + b.path("why").asText()));
      } else if (v != null) {
        goals.add(goal(json, text, ">= 1x of 50,000/s", v / BATCH_NOTIFICATIONS_PER_S, v >= BATCH_NOTIFICATIONS_PER_S,
            String.format(Locale.ROOT, "%s (%,d notifications/s, %s of %s delivered, %s item errors)",
                Goals.x(v / BATCH_NOTIFICATIONS_PER_S), Math.round(v), Report.num(b, "received"),
                Report.num(b, "expected_deliveries"), Report.num(b, "item_errors"))));
      }
    }
    ObjectNode sioDay = days.stream().filter(x -> x.path("server").asText().equals(Report.SIO)).findFirst().orElse(null);
    for (String server : List.of(Report.LMS, Report.PG)) {
      String text = "lms-day capacity with durable rooms >= 1.0x Socket.IO's (" + (server.equals(Report.PG) ? "PostgreSQL" : "H2") + ")";
      ObjectNode mine = days.stream().filter(x -> x.path("server").asText().equals(server)).findFirst().orElse(null);
      Double a = Goals.value(mine, "capacity_messages_per_s");
      Double b = Goals.value(sioDay, "capacity_messages_per_s");
      if (a == null || b == null) {
        goals.add(goal(json, text, ">= 1.0x", null, null, "no " + (a == null ? server : Report.SIO) + " figure in this run"));
      } else if (b <= 0) {
        goals.add(goal(json, text, ">= 1.0x", null, a > 0 ? Boolean.TRUE : null, "Socket.IO held no step; " + server + " "
            + Report.fmt(a) + " messages/s"));
      } else {
        String bound = top(mine) && !top(sioDay) ? "≥ " : top(sioDay) && !top(mine) ? "≤ " : "";
        goals.add(goal(json, text, ">= 1.0x", a / b, a / b >= DAY_VS_SIO, String.format(Locale.ROOT,
            "%s%sx (x%s vs x%s: %s vs %s messages/s)", bound, Report.fmt(a / b), Report.num(mine, "capacity_multiplier"),
            Report.num(sioDay, "capacity_multiplier"), Report.fmt(a), Report.fmt(b))));
      }
    }
    return goals;
  }

  static boolean top(ObjectNode day) {
    return day != null && day.path("at_top_step").asBoolean();
  }

  static void putJson(ObjectNode latest, Summary s) {
    ObjectNode p = latest.putObject("publish");
    p.putArray("calls").addAll(s.calls());
    p.putArray("batch").addAll(s.batches());
    latest.putArray("lms_day").addAll(s.days());
    latest.putArray("issue_23_goals").addAll(s.goals());
  }

  static void appendGoals(StringBuilder md, Summary s) {
    md.append("\n## Issue 23's goals, as measured in this run\n\n");
    md.append("Ratios within this run (benchmarks, not tests): `publish` for CPU per publish (server utime+stime over the ")
        .append("window / publishes answered 2xx; PostgreSQL's own CPU added for lms-realtime-pg), publishes/s and the ")
        .append("batch; `lms-day` for the capacity of a learning platform's day. A goal whose figures are not in the run ")
        .append("says so.\n\n");
    md.append("| goal | measured | met? |\n| --- | --- | --- |\n");
    for (ObjectNode g : s.goals()) {
      md.append("| ").append(g.path("goal").asText()).append(" | ").append(g.path("measured").asText()).append(" | ")
          .append(g.path("met").isNull() ? "-" : g.path("met").asBoolean() ? "yes" : "**no**").append(" |\n");
    }
  }

  static void appendPublish(StringBuilder md, Summary s, List<JsonNode> runs) {
    if (s.calls().isEmpty() && s.batches().isEmpty()) {
      return;
    }
    JsonNode any = runs.stream().filter(r -> r.has("phases")).findFirst().orElse(null);
    md.append("\n## Publish at saturation (issue 23)\n\n");
    if (any != null) {
      md.append(String.format(Locale.ROOT, "The backend publishing as fast as the server answers: %d keep-alive HTTP/1.1 "
              + "connections in a closed loop (each sends its next call when the last is answered), the harness's own "
              + "asynchronous client (`HttpPool`, every request encoded once), into rooms without members "
              + "(`course:r<R>-1..R`, round robin), %d B bodies. One server process per server: %d s of warm-up over every "
              + "room, then per room count 1 s unmeasured and %d s measured. ", any.path("connections").asInt(),
          any.path("body_bytes").asInt(), any.path("warmup_s").asInt(), any.path("seconds").asInt()));
    }
    md.append("The engine's call is `POST /api/v1/rooms/{room}/events` with a service JWT (verified on every call before ")
        .append("issue 23's 1e576e9, remembered once verified since); Socket.IO's is the peer's `POST /publish` (`io.to(room).emit`, ")
        .append("the same JWT verified once and then found in a map); the ceiling's parses the JSON and answers 202 (the floor). `µs/publish`: the server's CPU over ")
        .append("the window / publishes answered 2xx in it; `+ database`: PostgreSQL's processes' CPU per publish, and the ")
        .append("sum. `driver µs/publish`: the load driver's own CPU (it shares the 2 cores).\n\n");
    md.append("| rooms | server | journal | publishes/s | server µs/publish | database µs/publish | server + database µs | without JIT µs | p50 ms | p99 ms | max ms | errors | server CPU % | database CPU % | driver µs/publish | box busy % |\n");
    md.append("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    s.calls().stream().sorted(Comparator.comparingInt((ObjectNode c) -> c.path("rooms").asInt())
        .thenComparingInt(c -> Report.rank(c.path("server").asText()))).forEach(c -> md.append(String.format(Locale.ROOT,
        "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", Report.num(c, "rooms"),
        c.path("server").asText(), c.path("journal").asText(), Report.num(c, "publishes_per_s"),
        Report.num(c, "server_cpu_us_per_publish"), Report.num(c, "db_cpu_us_per_publish"),
        Report.num(c, "server_and_db_cpu_us_per_publish"), Report.num(c, "server_cpu_us_per_publish_without_jit"),
        Report.num(c, "p50_ms"), Report.num(c, "p99_ms"), Report.num(c, "max_ms"),
        c.has("error") ? c.path("error").asText() : Report.num(c, "errors"), Report.num(c, "server_cpu_pct"),
        Report.num(c, "db_cpu_pct"), Report.num(c, "driver_cpu_us_per_publish"), Report.num(c, "box_cpu_busy_pct"))));
    if (!s.batches().isEmpty()) {
      md.append("\n### Batch: notifications to online users\n\n");
      md.append("After the publish windows, on the same server: N users online (one socket each, in its `user:` room), ")
          .append("then the batch call (`POST /api/v1/batch`; the peer's `POST /batch`) with 100 user items, round robin over ")
          .append("the users, closed loop on its own connections, 5 s warm-up, then the window. `notifications/s`: items ")
          .append("answered 202 among the calls sent in the window / its length; `received`: their `notification` frames ")
          .append("read on the users' sockets; `delivery` latency: from the call to each frame. An engine without the batch ")
          .append("call answers 404: no figure.\n\n");
      md.append("| server | users | notifications/s | call p50 ms | call p99 ms | delivery p50 ms | delivery p99 ms | received / expected | item errors | call errors | server µs/notification | database µs | server CPU % | box busy % |\n");
      md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      for (ObjectNode b : s.batches()) {
        if (!b.path("available").asBoolean(true) || b.has("error")) {
          md.append("| ").append(b.path("server").asText()).append(" | ").append(Report.num(b, "users_online"))
              .append(" | ").append(b.has("why") ? b.path("why").asText() : b.path("error").asText())
              .append(" | | | | | | | | | | | |\n");
          continue;
        }
        md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n",
            b.path("server").asText(), Report.num(b, "users_online"), Report.num(b, "notifications_per_s"),
            Report.num(b, "call_p50_ms"), Report.num(b, "call_p99_ms"), Report.num(b, "delivery_p50_ms"),
            Report.num(b, "delivery_p99_ms"), Report.num(b, "received"), Report.num(b, "expected_deliveries"),
            Report.num(b, "item_errors"), Report.num(b, "call_errors"), Report.num(b, "server_cpu_us_per_notification"),
            Report.num(b, "db_cpu_us_per_notification"), Report.num(b, "server_cpu_pct"), Report.num(b, "box_cpu_busy_pct")));
      }
    }
  }

  static void appendDay(StringBuilder md, Summary s, List<JsonNode> runs) {
    if (s.days().isEmpty()) {
      return;
    }
    JsonNode any = runs.stream().filter(r -> r.has("steps")).findFirst().orElse(null);
    md.append("\n## A learning platform's day (issue 23, `lms-day`)\n\n");
    if (any != null) {
      JsonNode b = any.path("base");
      md.append(String.format(Locale.ROOT, "%,d students in courses of %d (%d courses), one instructor socket per course; "
              + "each student's socket is in its `user:` room and its course. At x1: a progress tick per student every %s s "
              + "(a socket `publish` into its own `user:` room, timed to its `ack`), a notification per student every %s s "
              + "(the batch call, %d users a call, timed to the `notification` frame), an announcement per course every %s s "
              + "(the single call, timed to each member's event), a presence query per instructor every %s s (timed to "
              + "the answer): %s messages/s in all. Each step multiplies every rate; %d s warm-up (the first %d s), %d s "
              + "measured, at most %d s drain. A step holds when every class's p99 is at most %s ms and nothing is lost "
              + "(every frame answered, every call 2xx, every item 202, every delivery received, no error frame, no socket "
              + "closed); the capacity is the last step that held.\n\n",
          any.path("students").asInt(), any.path("course_size").asInt(), any.path("courses").asInt(),
          Report.fmt(b.path("tick_every_s_per_student").asDouble()), Report.fmt(b.path("notification_every_s_per_student").asDouble()),
          b.path("batch_size").asInt(), Report.fmt(b.path("announcement_every_s_per_course").asDouble()),
          Report.fmt(b.path("presence_every_s_per_instructor").asDouble()), Report.fmt(any.path("base_messages_per_s").asDouble()),
          any.path("warmup_s").asInt(), any.path("first_step_warmup_s").asInt(), any.path("seconds").asInt(),
          any.path("drain_s").asInt(), Report.fmt(any.path("p99_bound_ms").asDouble())));
    }
    md.append("Socket.IO runs the same application in memory (`peers/socketio/server.mjs`: rooms per user and per course, ")
        .append("ticks as events acked by callback, announcements and batches over HTTP, presence from the adapter's rooms ")
        .append("map; no numbering, no history, no presence diffs).\n\n");
    md.append("| server | journal | capacity | messages/s | deliveries/s there | p99 ms there: tick / notification / announcement / presence | server CPU % there | µs/message there | steps held / tried | first step not held | notifications via | sockets |\n");
    md.append("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- | ---: |\n");
    for (ObjectNode d : s.days()) {
      JsonNode f = d.get("first_failed_step");
      md.append(String.format(Locale.ROOT, "| %s | %s | %sx%s | %s | %s | %s / %s / %s / %s | %s | %s | %s / %s | %s | %s | %s |\n",
          d.path("server").asText(), d.path("journal").asText(), top(d) ? "≥ " : "", Report.num(d, "capacity_multiplier"),
          Report.num(d, "capacity_messages_per_s"), Report.num(d, "capacity_deliveries_per_s"), Report.num(d, "tick_p99_ms"),
          Report.num(d, "notification_p99_ms"), Report.num(d, "announcement_p99_ms"), Report.num(d, "presence_p99_ms"),
          Report.num(d, "server_cpu_pct"), Report.num(d, "server_cpu_us_per_message"), Report.num(d, "steps_held"),
          Report.num(d, "steps_tried"), d.has("error") ? d.path("error").asText()
              : f == null ? "-" : "x" + f.path("multiplier").asText() + ": " + f.path("why").asText(),
          d.path("notifications_via").asText("-"), Report.num(d, "sockets_ready")));
    }
    md.append("\nEvery step (also in each run's `lms-day-*.json`, `steps`):\n\n");
    md.append("| server | step | x | offered /s | tick p50 / p99 ms | notification p50 / p99 ms | announcement p50 / p99 ms | presence p50 / p99 ms | lost | errors | server CPU % | database CPU % | driver CPU % | box busy % | held |\n");
    md.append("| --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    sorted(runs).stream().filter(r -> r.has("steps")).forEach(r -> r.path("steps").forEach(x -> {
      StringBuilder cls = new StringBuilder();
      for (String k : LmsDay.CLASS) {
        cls.append(Report.jnum(x.path(k), "p50_ms")).append(" / ").append(Report.jnum(x.path(k), "p99_ms")).append(" | ");
      }
      md.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s%s | %s | %s | %s | %s | %s | %s |\n",
          r.path("server").asText(), x.path("step").asInt(), x.path("multiplier").asText(), Report.jnum(x, "offered_messages_per_s"),
          cls, Report.jnum(x, "lost"), Report.jnum(x, "errors"), Report.jnum(x, "server_cpu_pct"), Report.jnum(x, "db_cpu_pct"),
          Report.jnum(x, "driver_cpu_pct"), Report.jnum(x, "box_cpu_busy_pct"),
          x.path("held").asBoolean() ? "yes" : "**no**: " + x.path("why").asText()));
    }));
  }

  /** publish.png (publishes/s and CPU per publish per room count) and lms-day.png (p99 per step); the names written. */
  static List<String> plots(Path dir, Summary s, List<JsonNode> dayRuns) throws IOException {
    List<String> written = new ArrayList<>();
    try {
      if (!s.calls().isEmpty()) {
        List<ObjectNode> asSize = new ArrayList<>(); // Plots.bySize groups by "members": here the room count
        for (ObjectNode c : s.calls()) {
          ObjectNode x = c.deepCopy();
          x.put("members", c.path("rooms").asInt());
          Double cpu = cpuWithDb(c);
          if (cpu != null) {
            x.put("cpu_with_db", cpu);
          }
          asSize.add(x);
        }
        List<CategoryChart> charts = new ArrayList<>();
        for (CategoryChart c : new CategoryChart[] {
            Plots.bySize(asSize, "publishes_per_s", "publishes/s at saturation (higher is better)", "publishes/s"),
            Plots.bySize(asSize, "cpu_with_db", "server CPU per publish, PostgreSQL's added (lower is better)", "µs")}) {
          if (c != null) {
            c.setXAxisTitle("rooms without members");
            charts.add(c);
          }
        }
        if (!charts.isEmpty()) {
          BitmapEncoder.saveBitmap(charts, 1, charts.size(), dir.resolve("publish.png").toString(), BitmapFormat.PNG);
          written.add("publish.png");
        }
      }
      XYChart c = new XYChartBuilder().width(800).height(500).title("lms-day: the worst class's p99 per step")
          .xAxisTitle("offered messages/s").yAxisTitle("p99 ms (log scale)").build();
      c.getStyler().setLegendPosition(LegendPosition.OutsideS);
      c.getStyler().setLegendLayout(org.knowm.xchart.style.Styler.LegendLayout.Horizontal);
      c.getStyler().setChartBackgroundColor(Color.WHITE);
      c.getStyler().setYAxisLogarithmic(true);
      c.getStyler().setXAxisLogarithmic(true);
      double minX = Double.MAX_VALUE;
      double maxX = 0;
      for (JsonNode r : sorted(dayRuns)) {
        List<Double> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        r.path("steps").forEach(st -> {
          double worst = 0;
          for (String k : LmsDay.CLASS) {
            worst = Math.max(worst, st.path(k).path("p99_ms").asDouble(0));
          }
          if (worst > 0) {
            xs.add(st.path("offered_messages_per_s").asDouble());
            ys.add(worst);
          }
        });
        if (xs.isEmpty()) {
          continue;
        }
        minX = Math.min(minX, xs.get(0));
        maxX = Math.max(maxX, xs.get(xs.size() - 1));
        XYSeries se = c.addSeries(r.path("server").asText(), xs, ys);
        se.setMarker(SeriesMarkers.CIRCLE);
        Color col = Plots.COLOURS.get(r.path("server").asText());
        if (col != null) {
          se.setLineColor(col);
          se.setMarkerColor(col);
        }
      }
      if (!c.getSeriesMap().isEmpty()) {
        if (minX >= maxX) {
          minX = maxX * 0.5;
          maxX = maxX * 1.5;
        }
        double bound = dayRuns.stream().mapToDouble(r -> r.path("p99_bound_ms").asDouble(100)).max().orElse(100);
        XYSeries b = c.addSeries("p99 bound " + Report.fmt(bound) + " ms", List.of(minX, maxX), List.of(bound, bound));
        b.setMarker(SeriesMarkers.NONE);
        b.setLineColor(Color.RED);
        BitmapEncoder.saveBitmap(c, dir.resolve("lms-day.png").toString(), BitmapFormat.PNG);
        written.add("lms-day.png");
      }
    } catch (RuntimeException | Error e) { // no fonts, no AWT: the report goes on without these plots
      System.err.println("report: issue 23 plots failed: " + e);
    }
    return written;
  }
}

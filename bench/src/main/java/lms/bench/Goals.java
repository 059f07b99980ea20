package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Issue 11's goals, as measured by one run: each a ratio of lms-realtime (netty, the default transport) to
 * the peer the goal names, met or not; beside it the same ratio for lms-realtime-pekko-http (no goal).
 * <ul>
 *   <li>server CPU per delivery at most 1.25x the Netty ceiling's (fan-out; 1,000, 5,000, 10,000 members);
 *   <li>capacity at p99 <= 50 ms at least 1.25x Socket.IO's and at least 0.85x the ceiling's (1,000 and
 *       10,000 members);
 *   <li>at most 10 KiB (10,240 B) heap + native per idle joined socket;
 *   <li>handshakes/s at least 2x Socket.IO's;
 *   <li>5,000 idle joined sockets at most 3 % of one core.
 * </ul>
 */
final class Goals {

  static final double CPU_VS_CEILING = 1.25;
  static final double CAPACITY_VS_SIO = 1.25;
  static final double CAPACITY_VS_CEILING = 0.85;
  static final long BYTES_PER_SOCKET = 10_240;
  static final double HANDSHAKES_VS_SIO = 2;
  static final double IDLE_PCT_5000 = 3;
  static final Set<Integer> FANOUT_SIZES = Set.of(1000, 5000, 10_000);
  static final Set<Integer> CAPACITY_SIZES = Set.of(1000, 10_000);

  private Goals() { }

  /** One goal as measured: the ratio and its cell for lms-realtime (with met) and for pekko-http. */
  record Goal(String text, String target, Integer members, Double lmsRatio, Boolean met, String lmsCell,
              Double pekkoRatio, String pekkoCell) {

    ObjectNode json(ObjectMapper m) {
      ObjectNode n = m.createObjectNode();
      n.put("goal", text);
      n.put("target", target);
      if (members != null) {
        n.put("members", members);
      }
      putRatio(n, "lms_realtime", lmsRatio);
      if (met == null) {
        n.putNull("met");
      } else {
        n.put("met", met);
      }
      n.put("lms_realtime_measured", lmsCell);
      putRatio(n, "lms_realtime_pekko_http", pekkoRatio);
      n.put("lms_realtime_pekko_http_measured", pekkoCell);
      return n;
    }

    static void putRatio(ObjectNode n, String k, Double v) {
      if (v == null || v.isNaN() || v.isInfinite()) {
        n.putNull(k);
      } else {
        n.put(k, Math.round(v * 1000) / 1000.0);
      }
    }

    static Goal absent(String text, String target, Integer members, String why) {
      return new Goal(text, target, members, null, null, why, null, "-");
    }
  }

  static List<Goal> of(String mode, Map<String, Map<String, ObjectNode>> fanoutBySize, List<ObjectNode> capRows,
                       List<ObjectNode> holdRows, List<ObjectNode> stormRows) {
    List<Goal> goals = new ArrayList<>();
    boolean quick = "quick".equals(mode);

    // ---- server CPU per delivery vs the ceiling (fan-out)
    TreeSet<Integer> sizes = new TreeSet<>(FANOUT_SIZES);
    fanoutBySize.keySet().forEach(k -> sizes.add(Integer.parseInt(k.split("\\|")[0])));
    for (int size : sizes) {
      String what = "server CPU per delivery <= 1.25x the Netty ceiling's, " + members(size)
          + (FANOUT_SIZES.contains(size) ? "" : " (not a goal size)");
      List<String> keys = fanoutBySize.keySet().stream().filter(k -> k.startsWith(size + "|")).toList();
      if (keys.isEmpty()) {
        goals.add(Goal.absent(what, "<= 1.25x", size, notInRun(quick && size != 1000)));
        continue;
      }
      for (String k : keys) {
        Map<String, ObjectNode> m = fanoutBySize.get(k);
        String text = what + (keys.size() > 1 ? ", " + k.split("\\|")[1] + " events/s" : "");
        Double ceil = Report.cpu(m.get(Report.CEILING));
        Double lms = Report.cpu(m.get(Report.LMS));
        Double pekko = Report.cpu(m.get(Report.PEKKO));
        if (ceil == null || ceil <= 0 || lms == null) {
          goals.add(Goal.absent(text, "<= 1.25x", size, missing(ceil == null || ceil <= 0 ? Report.CEILING : Report.LMS)));
          continue;
        }
        Double pr = pekko == null ? null : pekko / ceil;
        goals.add(new Goal(text, "<= 1.25x", size, lms / ceil, lms / ceil <= CPU_VS_CEILING,
            x(lms / ceil) + " (" + Report.fmt(lms) + " vs " + Report.fmt(ceil) + " µs)",
            pr, pr == null ? "-" : x(pr) + " (" + Report.fmt(pekko) + " µs)"));
      }
    }

    // ---- capacity at p99 <= 50 ms vs Socket.IO and the ceiling
    TreeSet<Integer> capSizes = new TreeSet<>(CAPACITY_SIZES);
    capRows.forEach(r -> capSizes.add(r.path("members").asInt()));
    for (int size : capSizes) {
      String suffix = ", " + members(size) + (CAPACITY_SIZES.contains(size) ? "" : " (not a goal size)");
      goals.add(capacityGoal("capacity at p99 <= 50 ms >= 1.25x Socket.IO's" + suffix, ">= 1.25x", size,
          capRows, Report.SIO, CAPACITY_VS_SIO, quick && size != 1000));
      goals.add(capacityGoal("capacity at p99 <= 50 ms >= 0.85x the Netty ceiling's" + suffix, ">= 0.85x", size,
          capRows, Report.CEILING, CAPACITY_VS_CEILING, quick && size != 1000));
    }

    // ---- memory per idle joined socket
    ObjectNode lmsHold = Report.row(holdRows, Report.LMS);
    ObjectNode pekkoHold = Report.row(holdRows, Report.PEKKO);
    String memText = "<= 10 KiB (10,240 B) heap + native per idle joined socket";
    if (lmsHold == null || !lmsHold.hasNonNull("bytes_per_socket")) {
      goals.add(Goal.absent(memText, "<= 1x of 10,240 B", null, "not measured in this run"));
    } else {
      long b = lmsHold.get("bytes_per_socket").asLong();
      Double pr = pekkoHold == null || !pekkoHold.hasNonNull("bytes_per_socket") ? null
          : pekkoHold.get("bytes_per_socket").asDouble() / BYTES_PER_SOCKET;
      goals.add(new Goal(memText, "<= 1x of 10,240 B", null, b / (double) BYTES_PER_SOCKET, b <= BYTES_PER_SOCKET,
          String.format(Locale.ROOT, "%s of 10,240 B (%,d B: heap %s + native %s, %s sockets)", x(b / (double) BYTES_PER_SOCKET),
              b, Report.num(lmsHold, "heap_bytes_per_socket"), Report.num(lmsHold, "native_bytes_per_socket"),
              Report.num(lmsHold, "sockets_at_sample")),
          pr, pr == null ? "-" : String.format(Locale.ROOT, "%s (%,d B)", x(pr), pekkoHold.get("bytes_per_socket").asLong())));
    }

    // ---- handshakes per second vs Socket.IO
    String hsText = "handshakes/s >= 2x Socket.IO's (lms-realtime verifies a JWT per socket, Socket.IO none)";
    Double lmsHs = value(Report.row(stormRows, Report.LMS), "handshakes_per_s");
    Double pekkoHs = value(Report.row(stormRows, Report.PEKKO), "handshakes_per_s");
    Double sioHs = value(Report.row(stormRows, Report.SIO), "handshakes_per_s");
    if (lmsHs == null || sioHs == null || sioHs <= 0) {
      goals.add(Goal.absent(hsText, ">= 2x", null, lmsHs == null ? "not measured in this run" : missing(Report.SIO)));
    } else {
      Double pr = pekkoHs == null ? null : pekkoHs / sioHs;
      goals.add(new Goal(hsText, ">= 2x", null, lmsHs / sioHs, lmsHs / sioHs >= HANDSHAKES_VS_SIO,
          String.format(Locale.ROOT, "%s (%,d vs %,d /s)", x(lmsHs / sioHs), Math.round(lmsHs), Math.round(sioHs)),
          pr, pr == null ? "-" : String.format(Locale.ROOT, "%s (%,d /s)", x(pr), Math.round(pekkoHs))));
    }

    // ---- idle CPU of 5,000 joined sockets
    String idleText = "5,000 idle joined sockets cost <= 3 % of one core";
    Double lmsIdle = value(lmsHold, "idle_cpu_pct_5000_sockets");
    Double pekkoIdle = value(pekkoHold, "idle_cpu_pct_5000_sockets");
    if (lmsIdle == null) {
      goals.add(Goal.absent(idleText, "<= 1x of 3 %", null, "not measured in this run"));
    } else {
      Double pr = pekkoIdle == null ? null : pekkoIdle / IDLE_PCT_5000;
      goals.add(new Goal(idleText, "<= 1x of 3 %", null, lmsIdle / IDLE_PCT_5000, lmsIdle <= IDLE_PCT_5000,
          String.format(Locale.ROOT, "%s of 3 %% (%s %% of a core, %s)", x(lmsIdle / IDLE_PCT_5000), Report.fmt(lmsIdle),
              idleHow(lmsHold)),
          pr, pr == null ? "-" : String.format(Locale.ROOT, "%s (%s %%, %s)", x(pr), Report.fmt(pekkoIdle), idleHow(pekkoHold))));
    }
    return goals;
  }

  static Goal capacityGoal(String text, String target, int size, List<ObjectNode> capRows, String peer,
                           double goal, boolean fullOnly) {
    ObjectNode l = capRow(capRows, Report.LMS, size);
    ObjectNode p = capRow(capRows, Report.PEKKO, size);
    ObjectNode o = capRow(capRows, peer, size);
    if (l == null && o == null && p == null) {
      return Goal.absent(text, target, size, notInRun(fullOnly));
    }
    if (l == null || o == null) {
      return Goal.absent(text, target, size, missing(l == null ? Report.LMS : peer));
    }
    double lv = l.get("deliveries_per_s").asDouble();
    double ov = o.get("deliveries_per_s").asDouble();
    String peerName = peer.equals(Report.SIO) ? "socket.io" : "the ceiling";
    String bound = top(l) && !top(o) ? "≥ " : top(o) && !top(l) ? "≤ " : "";
    if (ov <= 0) { // the peer held not even the first step: no ratio
      String cell = lv > 0
          ? String.format(Locale.ROOT, "%s held no step (%s); lms-realtime %,d deliveries/s", peerName, firstFailed(o),
              Math.round(lv))
          : String.format(Locale.ROOT, "neither held the first step (lms-realtime %s; %s %s)", firstFailed(l), peerName,
              firstFailed(o));
      return new Goal(text, target, size, null, lv > 0 ? Boolean.TRUE : null, cell, null,
          p == null ? "-" : p.get("deliveries_per_s").asDouble() > 0
              ? String.format(Locale.ROOT, "%,d /s", Math.round(p.get("deliveries_per_s").asDouble()))
              : "held no step (" + firstFailed(p) + ")");
    }
    Double pr = p == null ? null : p.get("deliveries_per_s").asDouble() / ov;
    String pbound = p == null ? "" : top(p) && !top(o) ? "≥ " : top(o) && !top(p) ? "≤ " : "";
    return new Goal(text, target, size, lv / ov, lv / ov >= goal,
        String.format(Locale.ROOT, "%s%s (%,d vs %,d deliveries/s)", bound, x(lv / ov), Math.round(lv), Math.round(ov)),
        pr, pr == null ? "-" : String.format(Locale.ROOT, "%s%s (%,d /s)", pbound, x(pr),
            Math.round(p.get("deliveries_per_s").asDouble())));
  }

  /** "p99 351 ms at 20,000/s": the first step that did not hold, from a capacity row. */
  static String firstFailed(ObjectNode capRow) {
    JsonNode f = capRow.get("first_failed_step");
    if (f == null) {
      return "no step failed";
    }
    return (f.path("p99_ms").isNumber() ? "p99 " + Report.fmt(f.path("p99_ms").asDouble()) + " ms" : f.path("why").asText())
        + String.format(Locale.ROOT, " at %,d/s", f.path("offered_deliveries_per_s").asLong());
  }

  static ObjectNode capRow(List<ObjectNode> rows, String server, int members) {
    return rows.stream().filter(r -> r.path("server").asText().equals(server) && r.path("members").asInt() == members
        && r.hasNonNull("deliveries_per_s")).findFirst().orElse(null);
  }

  static boolean top(ObjectNode capRow) {
    return capRow.path("at_top_step").asBoolean();
  }

  static String idleHow(ObjectNode hold) {
    int n = hold.path("idle_cpu_sockets").asInt();
    if (n == Hold.IDLE_GOAL_SOCKETS) {
      return "measured at 5,000 sockets";
    }
    if (!hold.hasNonNull("idle_cpu_pct_at_0")) {
      return String.format(Locale.ROOT, "from %,d sockets: %s %% × 5,000 / N", n, Report.num(hold, "idle_cpu_pct"));
    }
    return String.format(Locale.ROOT, "from %,d sockets: at 0 (%s %%) + (at N (%s %%) − at 0) × 5,000 / N", n,
        Report.num(hold, "idle_cpu_pct_at_0"), Report.num(hold, "idle_cpu_pct"));
  }

  static Double value(ObjectNode r, String f) {
    JsonNode n = r == null ? null : r.get(f);
    return n == null || !n.isNumber() ? null : n.asDouble();
  }

  static String x(double ratio) {
    return Report.fmt(ratio) + "x";
  }

  static String members(int n) {
    return String.format(Locale.ROOT, "%,d members", n);
  }

  static String notInRun(boolean fullOnly) {
    return fullOnly ? "not in this run (full mode only)" : "not in this run";
  }

  static String missing(String server) {
    return "no " + server + " figure in this run";
  }
}

package lms.bench;

import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Scenario 3 of issue 7, the handshake storm: from zero sockets, M sockets opened with K in flight
 * ({@code --members M --connect-concurrency K}), spread over the source addresses.
 *
 * <p>lms: every socket has its own HS256 JWT (subject {@code bench-m-<i>}, a different user each time, so
 * the engine verifies every signature and starts a user entity for each), signed before the clock
 * starts. A handshake counts when {@code welcome} arrives; the socket joins no room. socket.io: when its
 * CONNECT is answered ({@code 40{...}}); plain: when the WebSocket upgrade is done. Neither peer checks a
 * token.
 *
 * <p>Per round: handshakes/s = handshakes / (last welcome − first connect()); latency from connect() to
 * welcome in an HdrHistogram; server CPU (utime+stime, /proc/PID/stat) from just before the first
 * connect to when the last socket was ready or failed, per handshake; failures by reason. Then every
 * socket is closed, and the next round starts when the server is idle again (at most 15 s).
 * {@code --rounds 2} (default): round 1 runs on a freshly started server (cold JIT), round 2 with new
 * users on the same server once warm; the headline figure is the last round's (a server that has been
 * running), the first round is reported beside it.
 */
final class Handshake {

  final Driver d;

  Handshake(Driver d) {
    this.d = d;
  }

  int run() throws Exception {
    d.startClient();
    Map<String, Object> r = d.result("handshake");
    r.put("members", d.members);
    r.put("in_flight", d.connectConcurrency);
    r.put("sources", d.sources.size());
    r.put("token_per_socket", d.proto == Driver.Proto.LMS);
    List<Map<String, Object>> rounds = new ArrayList<>();
    double ticks = Driver.clockTicks();
    try {
      for (int round = 1; round <= Math.max(1, d.rounds); round++) {
        int from = (round - 1) * d.members;
        String[] uris = d.uris(from, d.members); // signed before the clock starts
        resetHistograms();
        d.failures.clear();
        long[] cpu0 = d.cpuSample();
        Driver.Opened o = d.open(uris, from, System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
        long[] cpu1 = d.cpuSample();
        Histogram h = merged();
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("round", round);
        x.put("warm", round > 1);
        x.put("sockets", o.launched());
        x.put("handshakes", o.ready());
        x.put("failed", o.launched() - o.ready());
        x.put("timed_out", o.timedOut());
        double secs = o.seconds();
        x.put("seconds", Double.isNaN(secs) ? null : Driver.round(secs, 3));
        x.put("handshakes_per_s", o.ready() == 0 || secs <= 0 ? null : Math.round(o.ready() / secs));
        x.put("p50_ms", Driver.ms(h, 50));
        x.put("p99_ms", Driver.ms(h, 99));
        x.put("max_ms", h.getTotalCount() == 0 ? null : Driver.round(h.getMaxValue() / 1000.0, 3));
        if (cpu0 != null && cpu1 != null && cpu0[0] >= 0 && cpu1[0] >= 0) {
          double serverCpu = (cpu1[0] - cpu0[0]) / ticks;
          double wall = (o.done() - o.firstConnect()) / 1e9;
          x.put("server_cpu_s", Driver.round(serverCpu, 3));
          x.put("server_cpu_pct", wall <= 0 ? null : Driver.round(100 * serverCpu / wall, 1));
          x.put("server_cpu_us_per_handshake", o.ready() == 0 ? null : Driver.round(serverCpu * 1e6 / o.ready(), 1));
        }
        if (cpu0 != null && cpu1 != null) {
          double wall = (o.done() - o.firstConnect()) / 1e9;
          x.put("driver_cpu_pct", wall <= 0 ? null : Driver.round(100 * (cpu1[1] - cpu0[1]) / ticks / wall, 1));
          x.put("box_cpu_busy_pct", cpu1[3] == cpu0[3] ? null
              : Driver.round(100.0 * (cpu1[2] - cpu0[2]) / (cpu1[3] - cpu0[3]), 1));
        }
        x.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
        x.put("close_codes", Driver.stringKeys(new TreeMap<>(d.closeCodes)));
        rounds.add(x);
        System.out.printf("driver: handshake round %d (%s): %d/%d in %s s = %s/s, p50 %s ms, p99 %s ms, server CPU %s us/handshake%s%n",
            round, round > 1 ? "warm" : "cold", o.ready(), o.launched(), x.get("seconds"), x.get("handshakes_per_s"),
            x.get("p50_ms"), x.get("p99_ms"), x.get("server_cpu_us_per_handshake"),
            d.failures.isEmpty() ? "" : ", failures " + d.failures);
        int left = d.closeAllAndWait(30);
        if (left > 0) {
          x.put("still_open_after_close", left);
        }
        if (round < d.rounds) {
          waitServerIdle(15);
        }
      }
      r.put("rounds", rounds);
      Map<String, Object> last = rounds.get(rounds.size() - 1);
      for (String k : List.of("handshakes", "failed", "seconds", "handshakes_per_s", "p50_ms", "p99_ms", "max_ms",
          "server_cpu_us_per_handshake", "server_cpu_pct", "driver_cpu_pct", "box_cpu_busy_pct")) {
        r.put(k, last.get(k));
      }
      r.put("headline_round", last.get("round"));
      r.put("cold_handshakes_per_s", rounds.get(0).get("handshakes_per_s"));
      r.put("cold_p99_ms", rounds.get(0).get("p99_ms"));
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.writeResult(r);
      return 0;
    } finally {
      d.stopClient();
    }
  }

  void resetHistograms() throws Exception {
    for (Map.Entry<EventExecutor, Driver.Stats> e : d.statsByLoop.entrySet()) {
      e.getKey().submit(() -> e.getValue().handshakeUs.reset()).get(5, TimeUnit.SECONDS);
    }
  }

  Histogram merged() throws Exception {
    return d.collect().handshakeUs;
  }

  /** Waits until the server's CPU falls under 20 % of a core over 0.5 s (the previous round's closes done). */
  void waitServerIdle(int seconds) throws InterruptedException {
    if (d.serverPids.isEmpty()) {
      Thread.sleep(3000);
      return;
    }
    double ticks = Driver.clockTicks();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    Thread.sleep(1000);
    while (System.nanoTime() < deadline) {
      long[] a = d.cpuSample();
      Thread.sleep(500);
      long[] b = d.cpuSample();
      if (a == null || b == null || (b[0] - a[0]) / ticks / 0.5 < 0.2) {
        return;
      }
    }
  }
}

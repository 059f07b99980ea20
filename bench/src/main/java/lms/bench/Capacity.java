package lms.bench;

import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Issue 11's capacity step-up: the offered load that one server holds at p99 publish-to-delivery within
 * a bound (50 ms), for one room of {@code --members}.
 *
 * <p>One server process and one set of members for every step: the members connect and join once (as
 * in fan-out, after the same pre-warm of the publish path); then each step publishes at
 * {@code step / members} events/s (so {@code step} deliveries/s are offered), {@code --warmup} seconds
 * unmeasured ({@code --first-step-warmup} for the first step, whose server code is still cold), then
 * {@code --seconds} measured, then at most {@code --drain} seconds for the window's deliveries to
 * arrive. A step <b>holds</b> when
 * <ul>
 *   <li>p99 of every delivery of the events published in its window is at most {@code --p99-bound-ms},
 *   <li>received >= (1 - {@code --loss-tolerance}) x expected (expected = events published in the
 *       window x members joined at the step's start),
 *   <li>no publish was skipped (more than 16 x connections waiting: the server did not take the
 *       publishes as fast as offered) and none failed, and no member was closed during the step.
 * </ul>
 * The steps go up until one does not hold; the last step that held is the capacity (its offered
 * deliveries/s). Every step's figures are in the result file ({@code steps}).
 *
 * <p>Never fails on timing: exits 0 whenever it could measure, 2 when no member could join.
 */
final class Capacity {

  final Driver d;

  Capacity(Driver d) {
    this.d = d;
  }

  int run() throws Exception {
    d.startClient();
    Driver.Publisher warm = d.new Publisher(d.publishConnections);
    try {
      Map<String, Object> prewarmed = warm.prewarm(d.prewarm);
      warm.shutdown();
      System.out.println("driver: capacity: pre-warm " + prewarmed);
      if (d.prewarm > 0 && (long) prewarmed.get("errors") == d.prewarm) {
        Map<String, Object> r = d.failedResult("every pre-warm publish failed: the publish call does not work");
        r.put("scenario", "capacity");
        d.writeResult(r);
        return 2;
      }
      String[] uris = d.uris(0, d.members);
      Driver.Opened opened = d.open(uris, 0, System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
      double joinSeconds = (opened.done() - opened.firstConnect()) / 1e9;
      System.out.printf("driver: capacity: %s: %d of %d members joined in %.1f s%s%n", d.label, d.joined.get(),
          d.members, joinSeconds, d.failures.isEmpty() ? "" : ", failures " + d.failures);
      if (d.joined.get() == 0) {
        Map<String, Object> r = d.failedResult("no member joined");
        r.put("scenario", "capacity");
        d.writeResult(r);
        return 2;
      }
      Thread.sleep(1000);

      Map<String, Object> r = d.result("capacity");
      r.put("members", d.members);
      r.put("members_joined", d.joined.get());
      r.put("join_seconds", Driver.round(joinSeconds, 2));
      r.put("p99_bound_ms", d.p99BoundMs);
      r.put("loss_tolerance", d.lossTolerance);
      r.put("warmup_s", d.warmup);
      r.put("first_step_warmup_s", Math.max(d.warmup, d.firstStepWarmup));
      r.put("seconds", d.seconds);
      r.put("drain_s", d.drainSeconds);
      r.put("payload_bytes", d.payloadBytes);
      r.put("threads", d.threads);
      r.put("steps_planned", d.steps);
      r.put("prewarm", prewarmed);
      r.put("join_failures", Driver.stringKeys(new TreeMap<>(d.failures)));
      r.put("connect_retries", Driver.stringKeys(new TreeMap<>(d.retries)));

      List<Map<String, Object>> steps = new ArrayList<>();
      Map<String, Object> lastHeld = null;
      Map<String, Object> firstFailed = null;
      double ticks = Driver.clockTicks();
      for (int i = 0; i < d.steps.size(); i++) {
        Map<String, Object> x = step(i, d.steps.get(i), ticks);
        steps.add(x);
        System.out.printf("driver: capacity: %s %d members, step %d: %d deliveries/s offered, %s received/s; "
                + "p99 %s ms; %s/%s received; server CPU %s%% (%s us/delivery), driver %s%%, box %s%%: %s%n",
            d.label, d.members, i + 1, (long) x.get("offered_deliveries_per_s"), x.get("deliveries_per_s"),
            x.get("p99_ms"), x.get("received"), x.get("expected"), x.get("server_cpu_pct"),
            x.get("server_cpu_us_per_delivery"), x.get("driver_cpu_pct"), x.get("box_cpu_busy_pct"),
            Boolean.TRUE.equals(x.get("held")) ? "held" : "not held (" + x.get("why") + ")");
        if (Boolean.TRUE.equals(x.get("held"))) {
          lastHeld = x;
        } else {
          firstFailed = x;
          break;
        }
        if (d.joined.get() == 0) {
          break;
        }
      }
      r.put("steps", steps);
      r.put("steps_tried", steps.size());
      r.put("steps_held", steps.stream().filter(x -> Boolean.TRUE.equals(x.get("held"))).count());
      // the capacity: the offered load of the last step that held; 0 when the first step did not hold
      r.put("deliveries_per_s", lastHeld == null ? 0L : lastHeld.get("offered_deliveries_per_s"));
      r.put("measured_deliveries_per_s", lastHeld == null ? null : lastHeld.get("deliveries_per_s"));
      r.put("p99_ms", lastHeld == null ? null : lastHeld.get("p99_ms"));
      r.put("server_cpu_pct", lastHeld == null ? null : lastHeld.get("server_cpu_pct"));
      r.put("server_cpu_us_per_delivery", lastHeld == null ? null : lastHeld.get("server_cpu_us_per_delivery"));
      r.put("at_top_step", firstFailed == null); // every step held: the capacity is at least the top step
      if (firstFailed != null) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("offered_deliveries_per_s", firstFailed.get("offered_deliveries_per_s"));
        f.put("p99_ms", firstFailed.get("p99_ms"));
        f.put("why", firstFailed.get("why"));
        r.put("first_failed_step", f);
      }
      r.put("unexpected_closes", d.unexpectedCloses.get());
      r.put("close_codes", Driver.stringKeys(new TreeMap<>(d.closeCodes)));
      r.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.stopping = true;
      d.writeResult(r);
      System.out.printf("driver: capacity: %s, %d members: %s deliveries/s at p99 <= %s ms (%d of %d steps held)%n",
          d.label, d.members, r.get("deliveries_per_s"), d.p99BoundMs, (long) r.get("steps_held"), steps.size());
      return 0;
    } finally {
      d.stopping = true;
      warm.shutdown();
      d.stopClient();
    }
  }

  /** One step: publish at offered / members events/s, warm-up, window, drain; its figures. */
  Map<String, Object> step(int index, long offered, double ticks) throws Exception {
    int membersAtStart = d.joined.get();
    int closesBefore = d.unexpectedCloses.get();
    long failuresBefore = d.failuresCount();
    resetStats();
    Driver.Publisher p = d.new Publisher(d.publishConnections);
    double eventsPerS = offered / (double) d.members;
    p.periodNanos = Math.max(1, Math.round(1e9 / eventsPerS));
    int warmup = index == 0 ? Math.max(d.warmup, d.firstStepWarmup) : d.warmup;
    long start = System.nanoTime() + 100_000_000L;
    d.measureStart = start + TimeUnit.SECONDS.toNanos(warmup);
    d.measureEnd = d.measureStart + TimeUnit.SECONDS.toNanos(d.seconds);
    p.start = start;
    Thread pub = new Thread(p, "publisher-step-" + (index + 1));
    pub.setDaemon(true);
    pub.start();

    Driver.sleepUntil(d.measureStart);
    long[] cpu0 = d.cpuSample();
    Driver.sleepUntil(d.measureEnd);
    long[] cpu1 = d.cpuSample();
    pub.join(10_000);
    p.await(15_000);

    long expected = p.inWindow.get() * (long) membersAtStart;
    long drainDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(d.drainSeconds);
    Driver.Stats sum = d.collect();
    while (sum.measured < expected && System.nanoTime() < drainDeadline) {
      Thread.sleep(100);
      sum = d.collect();
    }
    double window = (d.measureEnd - d.measureStart) / 1e9;
    int membersAtEnd = d.joined.get();
    int closes = d.unexpectedCloses.get() - closesBefore;

    Map<String, Object> x = new LinkedHashMap<>();
    x.put("step", index + 1);
    x.put("offered_deliveries_per_s", offered);
    x.put("events_per_s", Driver.round(eventsPerS, 3));
    x.put("warmup_s", warmup);
    x.put("seconds", d.seconds);
    x.put("members_joined", membersAtStart);
    x.put("members_joined_at_end", membersAtEnd);
    x.put("events_published", p.sent.get());
    x.put("events_in_window", p.inWindow.get());
    x.put("publish_errors", p.errors.sum());
    x.put("publish_skipped", p.skipped.get());
    x.put("publish_rtt_p50_ms", Driver.ms(p.rtt, 50));
    x.put("publish_rtt_p99_ms", Driver.ms(p.rtt, 99));
    x.put("expected", expected);
    x.put("received", sum.measured);
    x.put("lost", Math.max(0, expected - sum.measured));
    x.put("deliveries_per_s", Math.round(sum.windowReceived / window));
    x.put("avg_frame_bytes", sum.windowReceived == 0 ? null : sum.windowBytes / sum.windowReceived);
    x.put("p50_ms", Driver.ms(sum.latencyUs, 50));
    x.put("p90_ms", Driver.ms(sum.latencyUs, 90));
    x.put("p99_ms", Driver.ms(sum.latencyUs, 99));
    x.put("p999_ms", Driver.ms(sum.latencyUs, 99.9));
    x.put("max_ms", sum.latencyUs.getTotalCount() == 0 ? null : Driver.round(sum.latencyUs.getMaxValue() / 1000.0, 3));
    x.put("latency_clamped", sum.clamped);
    if (cpu0 != null && cpu1 != null) {
      if (cpu0[0] >= 0 && cpu1[0] >= 0) {
        double serverCpu = (cpu1[0] - cpu0[0]) / ticks;
        x.put("server_cpu_pct", Driver.round(100 * serverCpu / window, 1));
        x.put("server_cpu_us_per_delivery",
            sum.windowReceived == 0 ? null : Driver.round(serverCpu * 1e6 / sum.windowReceived, 3));
      }
      x.put("driver_cpu_pct", Driver.round(100 * (cpu1[1] - cpu0[1]) / ticks / window, 1));
      x.put("box_cpu_busy_pct", cpu1[3] == cpu0[3] ? null
          : Driver.round(100.0 * (cpu1[2] - cpu0[2]) / (cpu1[3] - cpu0[3]), 1));
    }
    x.put("unexpected_closes", closes);
    x.put("new_failures", d.failuresCount() - failuresBefore);

    List<String> why = new ArrayList<>();
    Double p99 = (Double) x.get("p99_ms");
    if (p99 == null) {
      why.add("no delivery measured");
    } else if (p99 > d.p99BoundMs) {
      why.add("p99 " + p99 + " ms > " + d.p99BoundMs + " ms");
    }
    if (sum.measured < (1 - d.lossTolerance) * expected) {
      why.add("received " + sum.measured + " < " + (1 - d.lossTolerance) + " x expected " + expected);
    }
    if (p.skipped.get() > 0) {
      why.add(p.skipped.get() + " publishes skipped (the publish calls fell behind)");
    }
    if (p.errors.sum() > 0) {
      why.add(p.errors.sum() + " publish errors");
    }
    if (closes > 0 || membersAtEnd < membersAtStart) {
      why.add(closes + " members closed (" + membersAtEnd + " of " + membersAtStart + " left)");
    }
    x.put("held", why.isEmpty());
    if (!why.isEmpty()) {
      x.put("why", String.join("; ", why));
    }
    return x;
  }

  void resetStats() throws Exception {
    for (Map.Entry<EventExecutor, Driver.Stats> e : d.statsByLoop.entrySet()) {
      e.getKey().submit(() -> e.getValue().reset()).get(5, TimeUnit.SECONDS);
    }
  }
}

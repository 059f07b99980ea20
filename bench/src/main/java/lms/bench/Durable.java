package lms.bench;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * Issue 14's durable publish: many small durable rooms, the backend publishing into them at a fixed rate.
 *
 * <p>{@code --rooms} rooms ({@code course:d1} .. {@code course:d100} by default), {@code --members} sockets
 * in all, member i in room {@code i % rooms + 1} with a token whose {@code courses} claim names that course
 * (5 per room for 500 and 100). Events go round robin over the rooms at {@code --rate} events/s in all,
 * open loop on a fixed schedule, through an asynchronous HTTP/1.1 client ({@link HttpPool}) with at
 * most {@code --publish-connections} keep-alive connections, one request at a time on each; a publish that
 * finds every connection busy waits in a queue (its wait counts in both latencies), and past
 * {@code 16 x connections} waiting the next ones are skipped and counted. A 503, any other status but 2xx,
 * a closed connection or no answer in 10 s is counted as an error, never retried.
 *
 * <p>Each event's data carries {@code "t":<System.nanoTime()>} taken when the publish is due (just before
 * it is handed to the client). Two histograms over the events published inside the window: the
 * <b>publish call</b> (t to the answer's arrival: the engine numbers, stores in its journal and answers 202)
 * and <b>publish-to-delivery</b> (t to the event frame read by each member, the fan-out's timing path).
 * Server CPU (utime+stime over the window) per accepted event and per delivery.
 *
 * <p>Never fails on timing: exits 0 whenever it could measure, 2 when no member could join or every
 * pre-warm publish failed.
 */
final class Durable {

  static final long ANSWER_TIMEOUT_MS = HttpPool.ANSWER_TIMEOUT_MS;

  final Driver d;

  Durable(Driver d) {
    this.d = d;
  }

  int run() throws Exception {
    d.startClient();
    Client client = new Client(d.publishConnections);
    try {
      // 0. pre-warm: publishes back to back into the still empty rooms (every room started, its journal
      //    written once, the publish and journal code compiled before the window)
      Map<String, Object> prewarmed = client.prewarm(d.prewarm);
      System.out.println("driver: durable: pre-warm " + prewarmed);
      if (d.prewarm > 0 && (long) prewarmed.get("errors") == d.prewarm) {
        Map<String, Object> r = d.failedResult("every pre-warm publish failed: the publish call does not work");
        r.put("scenario", "durable");
        r.put("prewarm", prewarmed);
        r.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
        d.writeResult(r);
        return 2;
      }
      // 1. members: each in its room
      long tokensStart = System.nanoTime();
      String[] uris = d.uris(0, d.members);
      double tokenSeconds = (System.nanoTime() - tokensStart) / 1e9;
      Driver.Opened opened = d.open(uris, 0, System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
      double joinSeconds = (opened.done() - opened.firstConnect()) / 1e9;
      System.out.printf("driver: durable: %s: %d of %d members joined %d rooms in %.1f s%s%s%n", d.label, d.joined.get(),
          d.members, d.roomCount, joinSeconds, d.failures.isEmpty() ? "" : ", failures " + d.failures,
          d.retries.isEmpty() ? "" : ", tried again after " + d.retries);
      if (d.joined.get() == 0) {
        Map<String, Object> r = d.failedResult("no member joined");
        r.put("scenario", "durable");
        d.writeResult(r);
        return 2;
      }
      Thread.sleep(1000);
      int[] membersAtStart = new int[d.roomCount];
      for (int k = 0; k < d.roomCount; k++) {
        membersAtStart[k] = d.joinedPerRoom.get(k);
      }
      int joinedAtStart = d.joined.get();

      // 2. publish at the fixed rate; the window after the warm-up
      long start = System.nanoTime() + 100_000_000L;
      d.measureStart = start + TimeUnit.SECONDS.toNanos(d.warmup);
      d.measureEnd = d.measureStart + TimeUnit.SECONDS.toNanos(d.seconds);
      client.windowStart = d.measureStart;
      client.windowEnd = d.measureEnd;
      Thread pub = new Thread(() -> client.schedule(start, Math.max(1, Math.round(1e9 / d.rate))), "publisher");
      pub.setDaemon(true);
      pub.start();
      Driver.sleepUntil(d.measureStart);
      long[] cpu0 = d.cpuSample();
      long jit0 = d.jitTicks();
      long db0 = d.dbPid > 0 ? Driver.treeTicks(d.dbPid) : -1;
      Driver.sleepUntil(d.measureEnd);
      long[] cpu1 = d.cpuSample();
      long jit1 = d.jitTicks();
      long db1 = d.dbPid > 0 ? Driver.treeTicks(d.dbPid) : -1;
      pub.join(10_000);
      boolean answered = client.awaitIdle(ANSWER_TIMEOUT_MS + 5_000);

      // 3. drain: the deliveries of the window's accepted events (bounded)
      long expected = 0;
      long accepted = 0;
      for (int k = 0; k < d.roomCount; k++) {
        long a = client.acceptedInWindow.get(k);
        accepted += a;
        expected += a * membersAtStart[k];
      }
      long drainDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(d.drainSeconds);
      Driver.Stats sum = d.collect();
      while (sum.measured < expected && System.nanoTime() < drainDeadline) {
        Thread.sleep(100);
        sum = d.collect();
      }
      long[] idle0 = d.cpuSample();
      Thread.sleep(TimeUnit.SECONDS.toMillis(d.idleSeconds));
      long[] idle1 = d.cpuSample();
      d.stopping = true;

      // 4. the figures
      double window = (d.measureEnd - d.measureStart) / 1e9;
      Map<String, Object> r = d.result("durable");
      r.put("members", d.members);
      r.put("rooms", d.roomCount);
      r.put("room_names", d.roomOf(0) + " .. " + d.roomOf(d.roomCount - 1));
      r.put("members_joined", joinedAtStart);
      r.put("members_joined_at_end", d.joined.get());
      r.put("join_seconds", Driver.round(joinSeconds, 2));
      r.put("token_seconds", Driver.round(tokenSeconds, 2));
      r.put("rate", d.rate);
      r.put("warmup_s", d.warmup);
      r.put("seconds", d.seconds);
      r.put("payload_bytes", client.bodyBytes);
      r.put("publish_connections", d.publishConnections);
      r.put("publish_connections_opened", client.pool.opened.get());
      r.put("threads", d.threads);
      r.put("prewarm", prewarmed);
      r.put("events_scheduled", client.scheduled.get());
      r.put("events_sent", client.sent.get());
      r.put("events_in_window", client.sentInWindow.get());
      r.put("events_accepted_in_window", accepted);
      r.put("events_per_s", Driver.round(accepted / window, 1));
      r.put("publish_errors", client.errorsInWindow.get());
      r.put("publish_errors_total", client.errors.get());
      r.put("publish_errors_by_status", new TreeMap<>(client.errorsByStatus));
      r.put("publish_skipped", client.skipped.get());
      r.put("publish_queued", client.pool.queued.get());
      r.put("publish_queue_max", client.pool.queueMax);
      r.put("publish_unanswered_at_end", answered ? 0 : client.pool.outstanding.get());
      synchronized (client.rtt) {
        r.put("publish_p50_ms", Driver.ms(client.rtt, 50));
        r.put("publish_p90_ms", Driver.ms(client.rtt, 90));
        r.put("publish_p99_ms", Driver.ms(client.rtt, 99));
        r.put("publish_p999_ms", Driver.ms(client.rtt, 99.9));
        r.put("publish_max_ms", client.rtt.getTotalCount() == 0 ? null : Driver.round(client.rtt.getMaxValue() / 1000.0, 3));
        r.put("publish_answers_in_histogram", client.rtt.getTotalCount());
      }
      r.put("expected", expected);
      r.put("received", sum.measured);
      r.put("lost", Math.max(0, expected - sum.measured));
      r.put("deliveries_in_window", sum.windowReceived);
      r.put("deliveries_per_s", Math.round(sum.windowReceived / window));
      r.put("avg_frame_bytes", sum.windowReceived == 0 ? null : sum.windowBytes / sum.windowReceived);
      r.put("p50_ms", Driver.ms(sum.latencyUs, 50));
      r.put("p90_ms", Driver.ms(sum.latencyUs, 90));
      r.put("p99_ms", Driver.ms(sum.latencyUs, 99));
      r.put("p999_ms", Driver.ms(sum.latencyUs, 99.9));
      r.put("max_ms", sum.latencyUs.getTotalCount() == 0 ? null : Driver.round(sum.latencyUs.getMaxValue() / 1000.0, 3));
      r.put("latency_clamped", sum.clamped);
      double ticks = Driver.clockTicks();
      if (cpu0 != null && cpu1 != null) {
        boolean haveServer = cpu0[0] >= 0 && cpu1[0] >= 0;
        if (haveServer) {
          double serverCpu = (cpu1[0] - cpu0[0]) / ticks;
          r.put("server_pid", d.serverPids.size() == 1 ? d.serverPids.get(0) : d.serverPids);
          r.put("server_cpu_s", Driver.round(serverCpu, 2));
          r.put("server_cpu_pct", Driver.round(100 * serverCpu / window, 1));
          r.put("server_cpu_us_per_event", accepted == 0 ? null : Driver.round(serverCpu * 1e6 / accepted, 1));
          r.put("server_cpu_us_per_delivery",
              sum.windowReceived == 0 ? null : Driver.round(serverCpu * 1e6 / sum.windowReceived, 3));
          if (jit0 >= 0 && jit1 >= jit0) { // the JIT compiler threads' part of it, and the rest
            double jit = (jit1 - jit0) / ticks;
            r.put("server_jit_cpu_pct", Driver.round(100 * jit / window, 1));
            r.put("server_cpu_us_per_event_without_jit", accepted == 0 ? null : Driver.round((serverCpu - jit) * 1e6 / accepted, 1));
          }
          if (db0 >= 0 && db1 >= db0) { // PostgreSQL: a process tree of its own, not in the engine's figure
            double db = (db1 - db0) / ticks;
            r.put("db_pid", d.dbPid);
            r.put("db_cpu_pct", Driver.round(100 * db / window, 1));
            r.put("db_cpu_us_per_event", accepted == 0 ? null : Driver.round(db * 1e6 / accepted, 1));
            r.put("server_and_db_cpu_us_per_event", accepted == 0 ? null : Driver.round((serverCpu + db) * 1e6 / accepted, 1));
          }
          if (idle0 != null && idle1 != null && idle0[0] >= 0 && idle1[0] >= 0 && d.idleSeconds > 0) {
            r.put("server_idle_cpu_pct", Driver.round(100 * (idle1[0] - idle0[0]) / ticks / d.idleSeconds, 1));
          }
        } else {
          r.put("server_cpu_us_per_event", null);
        }
        r.put("driver_cpu_pct", Driver.round(100 * (cpu1[1] - cpu0[1]) / ticks / window, 1));
        r.put("box_cpu_busy_pct", cpu1[3] == cpu0[3] ? null
            : Driver.round(100.0 * (cpu1[2] - cpu0[2]) / (cpu1[3] - cpu0[3]), 1));
      }
      r.put("unexpected_closes", d.unexpectedCloses.get());
      r.put("close_codes", Driver.stringKeys(new TreeMap<>(d.closeCodes)));
      r.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
      r.put("connect_retries", Driver.stringKeys(new TreeMap<>(d.retries)));
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.writeResult(r);
      System.out.printf("driver: durable: %s %d rooms x %d members, %d events/s offered: %s events/s accepted, "
              + "%d errors, %d skipped; publish p50 %s ms, p99 %s ms, max %s ms; publish-to-delivery p50 %s ms, p99 %s ms, "
              + "max %s ms; %d/%d received; server CPU %s us/event (%s%%; JIT %s%%)%s, driver %s%%, box %s%%%n",
          d.label, d.roomCount, d.members / d.roomCount, d.rate, r.get("events_per_s"), client.errorsInWindow.get(),
          client.skipped.get(), r.get("publish_p50_ms"), r.get("publish_p99_ms"), r.get("publish_max_ms"), r.get("p50_ms"),
          r.get("p99_ms"), r.get("max_ms"), sum.measured, expected, r.get("server_cpu_us_per_event"),
          r.get("server_cpu_pct"), r.get("server_jit_cpu_pct"),
          r.containsKey("db_cpu_pct") ? ", database " + r.get("db_cpu_us_per_event") + " us/event (" + r.get("db_cpu_pct") + "%)" : "",
          r.get("driver_cpu_pct"), r.get("box_cpu_busy_pct"));
      return 0;
    } finally {
      d.stopping = true;
      client.close();
      d.stopClient();
    }
  }

  /** {"event":"tick","data":{"t":<nanoTime>,"n":<seq>,"pad":"xx..."}}, padded to --payload-bytes. */
  static String body(long t, long n, int payloadBytes) {
    String prefix = "{\"event\":\"tick\",\"data\":{\"t\":" + t + ",\"n\":" + n + ",\"pad\":\"";
    String suffix = "\"}}";
    int pad = Math.max(0, payloadBytes - prefix.length() - suffix.length());
    return prefix + "x".repeat(pad) + suffix;
  }

  /** One publish: its stamp, sequence number and room (0-based), its body. */
  record Job(long t, long n, int room, byte[] body, boolean prewarm) { }

  /**
   * The asynchronous publish client: an {@link HttpPool} (one Netty event loop of its own, at most {@code max}
   * keep-alive HTTP/1.1 connections, each with one request in flight, the rest waiting in a FIFO of at most
   * {@code 16 x max}) and this scenario's counts. Every answer is counted on the pool's loop thread (the
   * histograms are also read under their locks).
   */
  final class Client implements HttpPool.Answer {
    final HttpPool pool;
    final int max;
    final String auth;
    volatile long windowStart = Long.MAX_VALUE;
    volatile long windowEnd = Long.MAX_VALUE;
    volatile int bodyBytes;
    final Histogram rtt = new Histogram(Driver.HIGHEST_US, 3); // publish call of the window's events; guarded by itself
    final Histogram prewarmRtt = new Histogram(Driver.HIGHEST_US, 3);
    final AtomicLong scheduled = new AtomicLong();
    final AtomicLong sent = new AtomicLong();         // handed to a connection (answered or failed there)
    final AtomicLong sentInWindow = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();
    final AtomicLong errors = new AtomicLong();
    final AtomicLong errorsInWindow = new AtomicLong();
    final AtomicLong prewarmErrors = new AtomicLong();
    final Map<String, LongAdder> errorsByStatus = new ConcurrentHashMap<>();
    final AtomicLongArray acceptedInWindow;

    Client(int max) {
      this.max = max;
      this.pool = new HttpPool(d.base.getHost(), Driver.port(d.base), max);
      this.auth = d.token("bench-backend", Map.of("roles", List.of("service")));
      this.acceptedInWindow = new AtomicLongArray(d.roomCount);
    }

    /** n publishes back to back, at most {@code max} in flight, over every room; then the counters start at 0. */
    Map<String, Object> prewarm(int n) throws InterruptedException {
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        while (pool.outstanding.get() >= max) {
          LockSupport.parkNanos(20_000);
        }
        long t = System.nanoTime();
        submit(new Job(t, -1 - i, i % d.roomCount, body(t, -1 - i, d.payloadBytes).getBytes(StandardCharsets.UTF_8), true));
      }
      awaitIdle(60_000);
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("events", n);
      r.put("rooms", Math.min(n, d.roomCount));
      r.put("errors", prewarmErrors.get());
      r.put("seconds", Driver.round((System.nanoTime() - t0) / 1e9, 2));
      r.put("rtt_p50_ms", Driver.ms(prewarmRtt, 50));
      r.put("rtt_p99_ms", Driver.ms(prewarmRtt, 99));
      r.put("connections", pool.opened.get());
      return r;
    }

    /** The open-loop schedule: publish n at start + n x period until the window's end. */
    void schedule(long start, long period) {
      for (long n = 0; ; n++) {
        long due = start + n * period;
        if (due >= windowEnd) {
          return;
        }
        long wait;
        while ((wait = due - System.nanoTime()) > 0) {
          LockSupport.parkNanos(wait); // no spinning: the box has 2 cores
        }
        long t = System.nanoTime();
        scheduled.incrementAndGet();
        int room = (int) (n % d.roomCount);
        byte[] b = body(t, n, d.payloadBytes).getBytes(StandardCharsets.UTF_8);
        bodyBytes = b.length;
        submit(new Job(t, n, room, b, false));
      }
    }

    void submit(Job job) {
      pool.submit(new HttpPool.Call(HttpPool.post(pool.host, pool.port, auth, "/api/v1/rooms/" + d.roomOf(job.room()) + "/events",
          job.body()), job.t(), job, false, this));
    }

    /** On the pool's loop: a publish answered (failure null) or failed; its figures. */
    @Override
    public void done(HttpPool.Call call, int status, byte[] answer, String why) {
      Job job = (Job) call.tag;
      long us = (System.nanoTime() - job.t()) / 1000;
      if (job.prewarm()) {
        synchronized (prewarmRtt) {
          prewarmRtt.recordValue(Math.min(Math.max(0, us), Driver.HIGHEST_US));
        }
        if (why != null) {
          prewarmErrors.incrementAndGet();
          d.fail("pre-warm publish: " + why);
        }
        return;
      }
      if (why != null && why.startsWith(HttpPool.SKIPPED)) {
        skipped.incrementAndGet(); // never handed to a connection
        return;
      }
      boolean inWindow = job.t() >= windowStart && job.t() < windowEnd;
      sent.incrementAndGet();
      if (inWindow) {
        sentInWindow.incrementAndGet();
      }
      if (why == null) {
        if (inWindow) {
          synchronized (rtt) {
            rtt.recordValue(Math.min(Math.max(0, us), Driver.HIGHEST_US));
          }
          acceptedInWindow.incrementAndGet(job.room());
        }
      } else {
        errors.incrementAndGet();
        if (inWindow) {
          errorsInWindow.incrementAndGet();
        }
        String k = why.length() > 100 ? why.substring(0, 100) : why;
        errorsByStatus.computeIfAbsent(errorsByStatus.size() < 30 ? k : "(other)", x -> new LongAdder()).increment();
        d.fail("publish: " + why);
      }
    }

    /** Waits until every publish handed to the client was answered or failed; false at the timeout. */
    boolean awaitIdle(long millis) throws InterruptedException {
      return pool.awaitIdle(millis);
    }

    void close() {
      pool.close();
    }
  }
}

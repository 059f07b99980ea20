package lms.bench;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Issue 23's publish table: the backend publishing at saturation into rooms without members, then (for the
 * engine and the Socket.IO peer) notifications to online users in batches.
 *
 * <p>One server process for the whole run. {@code --publish-connections} (16) keep-alive HTTP/1.1
 * connections in a closed loop (each sends its next call the moment the last one is answered), spread over
 * {@code --client-threads} {@link HttpPool}s. The call: the engine's {@code POST /api/v1/rooms/{room}/events}
 * with a service JWT and {@code {"event":"progress","data":{...}}}; the Socket.IO
 * peer's and the ceiling's {@code POST /publish} with {@code {"room":..,"event":"progress","data":{...}}}
 * (the peer checks the same JWT and emits to the room; the ceiling parses the JSON and answers 202: the
 * floor). Rooms {@code course:r<R>-1 .. course:r<R>-<R>} for each count R of {@code --publish-rooms}
 * (1 and 1,000), round robin. Every request is encoded once.
 *
 * <ol>
 *   <li>warm-up: {@code --warmup} seconds over every room of every phase (each room started, the JIT warm);
 *   <li>per room count: 1 s on its rooms unmeasured, then {@code --seconds} measured: calls answered 2xx in
 *       the window / its length, the call's latency (sent to answer) of the calls sent in it, errors and
 *       non-2xx, the server's utime+stime over it per publish (PostgreSQL's own beside it with
 *       {@code --db-pid}), the driver's;
 *   <li>batch ({@code --batch-users} > 0, engine and Socket.IO): that many users online (one socket each,
 *       in its {@code user:} room), {@code POST /api/v1/batch} (the peer's {@code POST /batch}) with
 *       {@code --batch-size} user items each, round robin over the users, closed loop on
 *       {@code --batch-connections}: {@code --batch-warmup} s, then {@code --seconds} measured:
 *       notifications/s (items answered 202), deliveries received (each item's {@code notification} frame
 *       on its user's socket, the fan-out's timing path), call->delivery latency. An engine without the
 *       batch API (404) is noted, not failed.
 * </ol>
 * Never fails on timing: exits 0 whenever it could measure, 2 when nothing could be published.
 */
final class Publish {

  final Driver d;
  final double ticks = Driver.clockTicks();

  Publish(Driver d) {
    this.d = d;
  }

  /** One pool's figures; touched on that pool's loop thread only (read after {@link #snapshot}). */
  static final class Tally {
    final Histogram rtt = new Histogram(Driver.HIGHEST_US, 3);
    long ok;
    long errors;
    long answered; // every answer, in the window or not (the warm-up's rate)
    long items;
    long itemsOk;
    final Map<String, Long> why = new TreeMap<>();

    void add(Tally o) {
      rtt.add(o.rtt);
      ok += o.ok;
      errors += o.errors;
      answered += o.answered;
      items += o.items;
      itemsOk += o.itemsOk;
      o.why.forEach((k, v) -> why.merge(k, v, Long::sum));
    }

    void error(String w) {
      errors++;
      note(w);
    }

    /** The reason only (an item error inside an answered batch is not a call error). */
    void note(String w) {
      String k = w.length() > 100 ? w.substring(0, 100) : w;
      why.merge(why.size() < 20 || why.containsKey(k) ? k : "(other)", 1L, Long::sum);
    }
  }

  /** A closed loop on one pool: on every answer, the next request of {@code requests}, round robin. */
  final class Loop implements HttpPool.Answer {
    final HttpPool pool;
    Tally tally = new Tally();
    volatile ByteBuf[] requests;
    volatile boolean stop;
    int next;

    Loop(HttpPool pool) {
      this.pool = pool;
    }

    void start(int connections) {
      for (int i = 0; i < connections; i++) {
        pool.submit(call());
      }
    }

    HttpPool.Call call() {
      ByteBuf[] r = requests;
      next = (next + 1) % r.length;
      return new HttpPool.Call(r[next], System.nanoTime(), null, false, this);
    }

    @Override
    public void done(HttpPool.Call call, int status, byte[] body, String failure) {
      long now = System.nanoTime();
      tally.answered++;
      if (now >= d.measureStart && now < d.measureEnd) {
        if (failure == null) {
          tally.ok++;
        } else {
          tally.error(failure);
        }
      }
      if (failure == null && call.t >= d.measureStart && call.t < d.measureEnd) {
        tally.rtt.recordValue(Math.min(Math.max(0, (now - call.t) / 1000), Driver.HIGHEST_US));
      }
      if (!stop) {
        pool.submitOnLoop(call());
      }
    }
  }

  int run() throws Exception {
    List<HttpPool> pools = new ArrayList<>();
    for (int i = 0; i < d.clientThreads; i++) {
      pools.add(new HttpPool(d.base.getHost(), Driver.port(d.base), d.publishConnections));
    }
    List<Loop> loops = pools.stream().map(Loop::new).toList();
    Map<String, Object> r = d.result("publish");
    try {
      String bearer = d.proto == Driver.Proto.PLAIN ? null : d.token("bench-backend", Map.of("roles", List.of("service")));
      List<ByteBuf[]> phases = new ArrayList<>();
      List<ByteBuf> everyRoom = new ArrayList<>();
      for (int rooms : d.publishRooms) {
        ByteBuf[] reqs = new ByteBuf[rooms];
        for (int k = 0; k < rooms; k++) {
          reqs[k] = request(bearer, "course:r" + rooms + "-" + (k + 1));
          everyRoom.add(reqs[k]);
        }
        phases.add(reqs);
      }
      r.put("rooms", d.publishRooms);
      r.put("connections", d.publishConnections);
      r.put("client_threads", d.clientThreads);
      r.put("warmup_s", d.warmup);
      r.put("seconds", d.seconds);
      r.put("body_bytes", body("course:r1-1").length);
      r.put("client", "the harness's own asynchronous HTTP/1.1 client (HttpPool: Netty, pre-encoded requests), closed loop");

      // 1. warm-up over every room of every phase
      ByteBuf[] all = everyRoom.toArray(ByteBuf[]::new);
      int perPool = Math.max(1, d.publishConnections / pools.size());
      for (Loop l : loops) {
        l.requests = all;
        l.start(perPool);
      }
      long t0 = System.nanoTime();
      Thread.sleep(TimeUnit.SECONDS.toMillis(d.warmup));
      Tally warm = snapshot(loops, true);
      r.put("warmup_calls_per_s", Driver.round(warm.answered / ((System.nanoTime() - t0) / 1e9), 1));
      r.put("warmup_errors", warm.errors);
      System.out.printf("driver: publish: %s warm-up %d s over %d rooms: %s calls/s%n", d.label, d.warmup, all.length,
          r.get("warmup_calls_per_s"));

      // 2. each room count: 1 s unmeasured on its rooms, then the window
      List<Map<String, Object>> results = new ArrayList<>();
      for (int p = 0; p < phases.size(); p++) {
        for (Loop l : loops) {
          l.requests = phases.get(p);
        }
        Map<String, Object> x = window(loops, d.publishRooms.get(p));
        results.add(x);
        System.out.printf("driver: publish: %s %d rooms: %s publishes/s, p50 %s ms, p99 %s ms, %s errors; server CPU %s us/publish"
                + "%s, driver %s%%, box %s%%%n", d.label, d.publishRooms.get(p), x.get("publishes_per_s"), x.get("p50_ms"),
            x.get("p99_ms"), x.get("errors"), x.get("server_cpu_us_per_publish"),
            x.containsKey("db_cpu_us_per_publish") ? " (+ PostgreSQL " + x.get("db_cpu_us_per_publish") + ")" : "",
            x.get("driver_cpu_pct"), x.get("box_cpu_busy_pct"));
      }
      for (Loop l : loops) {
        l.stop = true;
      }
      for (HttpPool pool : pools) {
        pool.awaitIdle(HttpPool.ANSWER_TIMEOUT_MS + 2_000);
      }
      r.put("phases", results);
      if (results.stream().allMatch(x -> ((Number) x.get("ok")).longValue() == 0)) {
        r.put("error", "no publish answered 2xx: " + results.get(0).get("errors_by_reason"));
        d.writeResult(r);
        return 2;
      }

      // 3. batch notifications to online users
      if (d.batchUsers > 0 && d.proto != Driver.Proto.PLAIN) {
        r.put("batch", batch(bearer));
      }
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.writeResult(r);
      return 0;
    } finally {
      for (Loop l : loops) {
        l.stop = true;
      }
      pools.forEach(HttpPool::close);
    }
  }

  byte[] body(String room) {
    String data = "{\"lesson\":\"l-17\",\"pct\":63,\"pad\":\"";
    String head = d.proto == Driver.Proto.LMS ? "{\"event\":\"progress\",\"data\":" : "{\"room\":\"" + room + "\",\"event\":\"progress\",\"data\":";
    int pad = Math.max(0, d.payloadBytes - head.length() - data.length() - 3);
    return (head + data + "x".repeat(pad) + "\"}}").getBytes(StandardCharsets.UTF_8);
  }

  ByteBuf request(String bearer, String room) {
    String path = d.proto == Driver.Proto.LMS ? "/api/v1/rooms/" + room + "/events" : "/publish";
    return HttpPool.post(d.base.getHost(), Driver.port(d.base), bearer, path, body(room));
  }

  /** The loops' figures since the last snapshot, each pool's tally replaced by a fresh one on its own thread. */
  Tally snapshot(List<Loop> loops, boolean reset) throws Exception {
    Tally sum = new Tally();
    for (Loop l : loops) {
      CompletableFuture<Tally> f = new CompletableFuture<>();
      l.pool.loop.execute(() -> {
        Tally t = l.tally;
        if (reset) {
          l.tally = new Tally();
        }
        f.complete(t);
      });
      sum.add(f.get(5, TimeUnit.SECONDS));
    }
    return sum;
  }

  /** 1 s unmeasured, then the measured window; the loops keep running. */
  Map<String, Object> window(List<Loop> loops, int rooms) throws Exception {
    long start = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
    d.measureStart = start;
    d.measureEnd = start + TimeUnit.SECONDS.toNanos(d.seconds);
    snapshot(loops, true);
    Driver.sleepUntil(d.measureStart);
    Cpu c0 = Cpu.sample(d);
    Driver.sleepUntil(d.measureEnd);
    Cpu c1 = Cpu.sample(d);
    Thread.sleep(200); // the window's last answers
    Tally t = snapshot(loops, true);
    Map<String, Object> x = new LinkedHashMap<>();
    x.put("rooms", rooms);
    x.put("ok", t.ok);
    x.put("errors", t.errors);
    x.put("errors_by_reason", t.why);
    double window = (d.measureEnd - d.measureStart) / 1e9;
    x.put("publishes_per_s", Driver.round(t.ok / window, 1));
    latency(x, "", t.rtt);
    Cpu.put(x, c0, c1, window, t.ok, "publish", ticks);
    return x;
  }

  static void latency(Map<String, Object> x, String prefix, Histogram h) {
    x.put(prefix + "p50_ms", Driver.ms(h, 50));
    x.put(prefix + "p90_ms", Driver.ms(h, 90));
    x.put(prefix + "p99_ms", Driver.ms(h, 99));
    x.put(prefix + "max_ms", h.getTotalCount() == 0 ? null : Driver.round(h.getMaxValue() / 1000.0, 3));
  }

  /** The batch phase: users online, batches of user items in a closed loop, notifications/s and deliveries. */
  Map<String, Object> batch(String bearer) throws Exception {
    Map<String, Object> x = new LinkedHashMap<>();
    x.put("users", d.batchUsers);
    x.put("batch_size", d.batchSize);
    x.put("connections", d.batchConnections);
    x.put("warmup_s", d.batchWarmup);
    x.put("seconds", d.seconds);
    d.members = d.batchUsers;
    d.userTokens = true;
    d.startClient();
    try {
      Driver.Opened opened = d.open(d.uris(0, d.batchUsers), 0, System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
      int online = d.joined.get();
      x.put("users_online", online);
      x.put("join_seconds", Driver.round((opened.done() - opened.firstConnect()) / 1e9, 2));
      System.out.printf("driver: publish: %s batch: %d of %d users online%n", d.label, online, d.batchUsers);
      if (online == 0) {
        x.put("error", "no user came online: " + d.failures);
        return x;
      }
      Thread.sleep(1000);
      HttpPool pool = new HttpPool(d.base.getHost(), Driver.port(d.base), d.batchConnections);
      String path = d.proto == Driver.Proto.LMS ? "/api/v1/batch" : "/batch";
      BatchLoop loop = new BatchLoop(pool, bearer, path);
      try {
        // is the batch call there at all? (an engine before issue 23 answers 404)
        int status = pool.statusOf(bearer, path, loop.body(System.nanoTime(), 1));
        if (status == 404 || status == 405) {
          x.put("available", false);
          x.put("why", "the server answers HTTP " + status + " to " + path + ": no batch call");
          System.out.printf("driver: publish: %s batch: %s%n", d.label, x.get("why"));
          return x;
        }
        x.put("available", true);
        long start = System.nanoTime() + TimeUnit.SECONDS.toNanos(d.batchWarmup);
        d.measureStart = start;
        d.measureEnd = start + TimeUnit.SECONDS.toNanos(d.seconds);
        for (int i = 0; i < d.batchConnections; i++) {
          pool.submit(loop.call());
        }
        Driver.sleepUntil(d.measureStart);
        Cpu c0 = Cpu.sample(d);
        Driver.sleepUntil(d.measureEnd);
        Cpu c1 = Cpu.sample(d);
        loop.stop = true;
        pool.awaitIdle(HttpPool.ANSWER_TIMEOUT_MS + 2_000);
        CompletableFuture<Tally> f = new CompletableFuture<>();
        pool.loop.execute(() -> f.complete(loop.tally));
        Tally t = f.get(5, TimeUnit.SECONDS);
        long drainDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(d.drainSeconds);
        Driver.Stats sum = d.collect();
        while (sum.measured < loop.expected && System.nanoTime() < drainDeadline) {
          Thread.sleep(100);
          sum = d.collect();
        }
        double window = (d.measureEnd - d.measureStart) / 1e9;
        x.put("calls_ok", t.ok);
        x.put("call_errors", t.errors);
        x.put("errors_by_reason", t.why);
        x.put("items_in_window", t.items);
        x.put("items_accepted", t.itemsOk);
        x.put("item_errors", t.items - t.itemsOk);
        x.put("notifications_per_s", Driver.round(t.itemsOk / window, 1));
        latency(x, "call_", t.rtt);
        x.put("expected_deliveries", loop.expected);
        x.put("received", sum.measured);
        x.put("lost", Math.max(0, loop.expected - sum.measured));
        latency(x, "delivery_", sum.latencyUs);
        Cpu.put(x, c0, c1, window, t.itemsOk, "notification", ticks);
        System.out.printf("driver: publish: %s batch of %d: %s notifications/s, call p99 %s ms, delivery p99 %s ms, "
                + "%d/%d received, %d item errors, %d call errors; server CPU %s us/notification%n", d.label, d.batchSize,
            x.get("notifications_per_s"), x.get("call_p99_ms"), x.get("delivery_p99_ms"), sum.measured, loop.expected,
            t.items - t.itemsOk, t.errors, x.get("server_cpu_us_per_notification"));
        return x;
      } finally {
        loop.stop = true;
        pool.close();
      }
    } finally {
      d.stopClient();
    }
  }

  /** Batches of {@code --batch-size} user items, round robin over the online users; closed loop. */
  final class BatchLoop implements HttpPool.Answer {
    final HttpPool pool;
    final String bearer;
    final String path;
    final Tally tally = new Tally();
    volatile boolean stop;
    long expected; // items accepted among the calls stamped in the window: one notification frame each
    int nextUser;

    BatchLoop(HttpPool pool, String bearer, String path) {
      this.pool = pool;
      this.bearer = bearer;
      this.path = path;
    }

    byte[] body(long t, int n) {
      StringBuilder b = new StringBuilder(n * 80 + 16).append("{\"items\":[");
      for (int i = 0; i < n; i++) {
        if (i > 0) {
          b.append(',');
        }
        b.append("{\"user\":\"").append(d.userOf(nextUser)).append("\",\"event\":\"grade\",\"data\":{\"t\":").append(t)
            .append(",\"score\":87}}");
        nextUser = (nextUser + 1) % d.batchUsers;
      }
      return b.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    }

    HttpPool.Call call() {
      long t = System.nanoTime();
      return new HttpPool.Call(HttpPool.post(d.base.getHost(), Driver.port(d.base), bearer, path, body(t, d.batchSize)),
          t, null, true, this);
    }

    @Override
    public void done(HttpPool.Call call, int status, byte[] body, String failure) {
      long now = System.nanoTime();
      boolean inWindow = call.t >= d.measureStart && call.t < d.measureEnd;
      if (inWindow) {
        int accepted = failure == null && body != null ? count(body, "\"status\":202") : 0;
        tally.items += d.batchSize;
        tally.itemsOk += accepted;
        expected += accepted;
        if (failure == null) {
          tally.ok++;
          tally.rtt.recordValue(Math.min(Math.max(0, (now - call.t) / 1000), Driver.HIGHEST_US));
          if (accepted < d.batchSize) {
            tally.note("items not 202: " + HttpPool.abbreviate(new String(body, StandardCharsets.UTF_8)));
          }
        } else {
          tally.error(failure);
        }
      }
      if (!stop && now < d.measureEnd) {
        pool.submitOnLoop(call());
      }
    }
  }

  static int count(byte[] hay, String needle) {
    byte[] n = needle.getBytes(StandardCharsets.US_ASCII);
    int c = 0;
    outer:
    for (int i = 0; i <= hay.length - n.length; i++) {
      for (int k = 0; k < n.length; k++) {
        if (hay[i + k] != n[k]) {
          continue outer;
        }
      }
      c++;
      i += n.length - 1;
    }
    return c;
  }

  /** CPU at one instant: the server's (summed over its pids), PostgreSQL's tree, the JIT threads', the driver's, the box's. */
  record Cpu(long[] sample, long jit, long db) {
    static Cpu sample(Driver d) {
      return new Cpu(d.cpuSample(), d.jitTicks(), d.dbPid > 0 ? Driver.treeTicks(d.dbPid) : -1);
    }

    /** Server (and database) CPU over the window per unit ("publish": server_cpu_us_per_publish ...). */
    static void put(Map<String, Object> x, Cpu a, Cpu b, double window, long units, String unit, double ticks) {
      if (a.sample == null || b.sample == null) {
        return;
      }
      if (a.sample[0] >= 0 && b.sample[0] >= 0) {
        double server = (b.sample[0] - a.sample[0]) / ticks;
        x.put("server_cpu_pct", Driver.round(100 * server / window, 1));
        x.put("server_cpu_us_per_" + unit, units == 0 ? null : Driver.round(server * 1e6 / units, 2));
        if (a.jit >= 0 && b.jit >= a.jit) {
          double jit = (b.jit - a.jit) / ticks;
          x.put("server_jit_cpu_pct", Driver.round(100 * jit / window, 1));
          x.put("server_cpu_us_per_" + unit + "_without_jit", units == 0 ? null : Driver.round((server - jit) * 1e6 / units, 2));
        }
        if (a.db >= 0 && b.db >= a.db) {
          double db = (b.db - a.db) / ticks;
          x.put("db_cpu_pct", Driver.round(100 * db / window, 1));
          x.put("db_cpu_us_per_" + unit, units == 0 ? null : Driver.round(db * 1e6 / units, 2));
          x.put("server_and_db_cpu_us_per_" + unit, units == 0 ? null : Driver.round((server + db) * 1e6 / units, 2));
        }
      }
      double driver = (b.sample[1] - a.sample[1]) / ticks;
      x.put("driver_cpu_pct", Driver.round(100 * driver / window, 1));
      x.put("driver_cpu_us_per_" + unit, units == 0 ? null : Driver.round(driver * 1e6 / units, 2));
      x.put("box_cpu_busy_pct", b.sample[3] == a.sample[3] ? null
          : Driver.round(100.0 * (b.sample[2] - a.sample[2]) / (b.sample[3] - a.sample[3]), 1));
    }
  }
}

package lms.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Scenario 1 of issue 7, "sockets held": N idle sockets on one server, and what each costs it in memory.
 *
 * <ol>
 *   <li>{@code fresh}: the server's memory before any socket (a forced GC first, see {@link #sample}).
 *   <li>Warm-up: {@code --hold-warmup} sockets (other users than the measured ones) are opened, held 2 s
 *       and closed, so that the classes and compiled code of the socket path are loaded before the
 *       baseline; these are one-off costs, not per socket. Then the server is given
 *       {@code --settle-seconds} to let them go.
 *   <li>{@code baseline}: memory at 0 sockets.
 *   <li>Ramp: N members connect ({@code --connect-concurrency} in flight, over the source addresses),
 *       each waits for {@code welcome} and (lms) joins {@code --room} (default {@code course:1}, one room
 *       of N members; {@code --room none} keeps them room-less). Each then sends {@code {"type":"ping"}}
 *       every {@code --ping-seconds} (20), the engine's heartbeat rule; socket.io answers the server's
 *       pings.
 *   <li>{@code --settle-seconds}, then {@code --hold-seconds} of holding, of which the last
 *       {@code --idle-cpu-seconds} (30; the hold lasts at least that long) are the <b>idle window</b>
 *       (issue 11): the server's utime+stime over it, as percent of one core ({@code idle_cpu_pct}),
 *       while the N joined sockets only keep their heartbeat. The same is measured at 0 sockets over
 *       {@code --idle-baseline-seconds} (5) after the baseline sample ({@code idle_cpu_pct_at_0}), and
 *       {@code idle_cpu_pct_5000_sockets} is what 5,000 such sockets cost: the figure itself at
 *       N = 5,000, else at 0 + (at N - at 0) x 5,000 / N.
 *   <li>{@code at_n}: memory at N sockets.
 *   <li>Check: lms: one more ping on every socket, {@code sockets_held} = pongs back within 15 s; the
 *       peers: the smaller of the driver's open channels and the server's own count ({@code /health}).
 * </ol>
 *
 * <p>Memory of a JVM server (lms, the Netty ceiling): {@code jcmd PID GC.run}, then heap used from
 * {@code jcmd PID GC.heap_info}, and VmRSS from {@code /proc/PID/status}. The server runs with a fixed,
 * pre-touched heap ({@code -Xms2g -Xmx2g -XX:+AlwaysPreTouch}, run.sh), so the heap is all resident from
 * the start and RSS grows only by native memory (thread stacks, direct buffers, metaspace, malloc):
 * {@code bytes_per_socket = Δheap_used_after_gc / N + ΔRSS / N}, both parts reported. Node
 * (socket.io, started with {@code --expose-gc}): {@code GET /stats?gc=1} runs {@code global.gc()} and
 * returns {@code process.memoryUsage()}; the same split is heapUsed for the heap and RSS − heapTotal for
 * what is outside the JS heap. Kernel socket buffers are in neither (they are the kernel's, not the
 * process's): {@code /proc/net/sockstat}'s TCP {@code mem} pages, box-wide and both ends of every loopback
 * socket, are reported beside. For the JVMs, {@code jcmd PID GC.class_histogram} at 0 and at N gives the
 * classes whose live bytes grew most, per socket ({@code heap_growth_top}).
 */
final class Hold {

  final Driver d;
  // HTTP/1.1 only: the JDK client's h2c upgrade attempt would go to Socket.IO's upgrade handler, which
  // destroys upgrades of any path but its own
  final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  Hold(Driver d) {
    this.d = d;
  }

  int run() throws Exception {
    if (d.serverPids.isEmpty()) {
      System.err.println("driver: --scenario hold needs --server-pid (its memory is what is measured)");
      return 64;
    }
    long pid = d.serverPids.get(0);
    d.startClient();
    Map<String, Object> r = d.result("hold");
    r.put("server_pid", pid);
    r.put("members", d.members);
    r.put("room", d.room == null ? "none" : d.room);
    r.put("sources", d.sources.size());
    r.put("connect_concurrency", d.connectConcurrency);
    r.put("ping_seconds", d.pingSeconds);
    r.put("hold_seconds", d.holdSeconds);
    r.put("hold_warmup", d.holdWarmup);
    r.put("idle_cpu_window_s", d.idleCpuSeconds);
    r.put("idle_baseline_s", d.idleBaselineSeconds);
    try {
      Map<String, Object> fresh = sample(pid);
      System.out.println("driver: hold: fresh " + fresh);
      if (fresh.containsKey("error")) {
        r.put("error", "memory sample failed: " + fresh.get("error"));
        r.put("fresh", fresh);
        d.writeResult(r);
        return 0;
      }
      r.put("fresh", fresh);
      if (d.holdWarmup > 0) {
        Driver.Opened w = d.open(d.uris(d.members, d.holdWarmup), d.members,
            System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
        Thread.sleep(2000);
        int left = d.closeAllAndWait(30);
        Map<String, Object> wr = new LinkedHashMap<>();
        wr.put("sockets", w.launched());
        wr.put("ready", w.ready());
        wr.put("failed", w.failed());
        wr.put("still_open_after_close", left);
        r.put("warmup", wr);
        waitServerCount(0, 30);
        Thread.sleep(TimeUnit.SECONDS.toMillis(d.settleSeconds));
      }
      Map<String, Object> failuresBefore = Driver.stringKeys(new TreeMap<>(d.failures));
      d.failures.clear();
      r.put("warmup_failures", failuresBefore);
      Map<String, Object> baseline = sample(pid);
      System.out.println("driver: hold: baseline " + baseline);
      r.put("baseline", baseline);
      Map<String, long[]> histoBefore = classHistogram(pid);
      double ticks = Driver.clockTicks();
      if (d.idleBaselineSeconds > 0) {
        Thread.sleep(1000); // the sample's full GCs and the histogram are over
        Map<String, Object> idle0 = idleCpu(pid, d.idleBaselineSeconds, ticks, false);
        System.out.println("driver: hold: idle CPU at 0 sockets " + idle0);
        r.put("idle_at_0", idle0);
        r.put("idle_cpu_pct_at_0", idle0.get("server_cpu_pct"));
      }

      // ramp
      long t0 = System.nanoTime();
      String[] uris = d.uris(0, d.members);
      r.put("token_seconds", Driver.round((System.nanoTime() - t0) / 1e9, 2));
      Driver.Opened o = d.open(uris, 0, System.nanoTime() + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds));
      double ramp = (o.done() - o.firstConnect()) / 1e9;
      System.out.printf("driver: hold: %s: %d of %d sockets ready in %.1f s%s%n", d.label, o.ready(), d.members, ramp,
          d.failures.isEmpty() ? "" : ", failures " + d.failures);
      r.put("ramp_seconds", Driver.round(ramp, 2));
      r.put("ramp_ready", o.ready());
      r.put("ramp_failed", o.failed());
      if (o.ready() == 0) {
        r.put("error", "no socket could be opened");
        r.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
        d.writeResult(r);
        return 2;
      }
      Thread.sleep(TimeUnit.SECONDS.toMillis(d.settleSeconds));
      // hold: first whatever --hold-seconds asks beyond the idle window, then the idle window (the last
      // --idle-cpu-seconds of the hold, when the ramp's garbage and compilation are furthest behind)
      holdFor(Math.max(0, d.holdSeconds - d.idleCpuSeconds));
      if (d.idleCpuSeconds > 0) {
        int before = d.joined.get();
        int closesBefore = d.unexpectedCloses.get();
        Map<String, Object> idle = idleCpu(pid, d.idleCpuSeconds, ticks, true);
        idle.put("sockets_at_start", before);
        idle.put("sockets_at_end", d.joined.get());
        idle.put("unexpected_closes", d.unexpectedCloses.get() - closesBefore);
        System.out.println("driver: hold: idle CPU at " + before + " sockets " + idle);
        r.put("idle_at_n", idle);
        r.put("idle_cpu_sockets", before);
        Object pct = idle.get("server_cpu_pct");
        r.put("idle_cpu_pct", pct);
        if (pct instanceof Double atN && before > 0) {
          // issue 11: what 5,000 idle joined sockets cost the whole server. At N = 5,000 the figure itself;
          // otherwise the cost at 0 sockets plus the per-socket rest scaled to 5,000 (linear in N), or,
          // without a figure at 0 sockets, the whole figure scaled (5,000 / N)
          Object at0 = r.get("idle_cpu_pct_at_0");
          double est;
          String how;
          if (before == IDLE_GOAL_SOCKETS) {
            est = atN;
            how = "measured at 5,000 sockets";
          } else if (at0 instanceof Double z) {
            est = z + (atN - z) * IDLE_GOAL_SOCKETS / before;
            how = "at 0 sockets + (at " + before + " - at 0) x 5,000 / " + before;
          } else {
            est = atN * IDLE_GOAL_SOCKETS / before;
            how = "at " + before + " sockets x 5,000 / " + before;
          }
          r.put("idle_cpu_pct_5000_sockets", Driver.round(Math.max(0, est), 2));
          r.put("idle_cpu_5000_method", how);
        }
      }

      int openAtSample = d.joined.get();
      Map<String, Object> atN = sample(pid);
      System.out.println("driver: hold: at " + openAtSample + " sockets " + atN);
      r.put("at_n", atN);
      r.put("sockets_at_sample", openAtSample);
      Map<String, long[]> histoAfter = classHistogram(pid);
      if (histoBefore != null && histoAfter != null && openAtSample > 0) {
        r.put("heap_growth_top", growth(histoBefore, histoAfter, openAtSample, 20));
      }

      // what is really held
      int active = d.activeChannels();
      r.put("driver_channels_open", active);
      Long serverCount = serverCount();
      r.put("server_sockets_reported", serverCount);
      int held;
      if (d.proto == Driver.Proto.LMS) {
        int pongs = d.pingRound(15);
        r.put("ping_round_pongs", pongs);
        held = pongs;
      } else {
        held = serverCount == null ? active : (int) Math.min(active, serverCount);
      }
      r.put("sockets_held", held);
      r.put("unexpected_closes", d.unexpectedCloses.get());
      r.put("close_codes", Driver.stringKeys(new TreeMap<>(d.closeCodes)));
      r.put("failures", Driver.stringKeys(new TreeMap<>(d.failures)));
      r.put("connect_retries", Driver.stringKeys(new TreeMap<>(d.retries)));

      // bytes per socket
      if (!atN.containsKey("error") && openAtSample > 0) {
        double n = openAtSample;
        double heap = (num(atN, "heap_used_bytes") - num(baseline, "heap_used_bytes")) / n;
        double outside = (num(atN, "outside_heap_bytes") - num(baseline, "outside_heap_bytes")) / n;
        r.put("heap_bytes_per_socket", Math.round(heap));
        r.put("native_bytes_per_socket", Math.round(outside));
        r.put("bytes_per_socket", Math.round(heap + outside));
        r.put("rss_bytes_per_socket", Math.round((num(atN, "rss_bytes") - num(baseline, "rss_bytes")) / n));
        r.put("kernel_tcp_bytes_per_socket_both_ends",
            Math.round((num(atN, "kernel_tcp_mem_bytes") - num(baseline, "kernel_tcp_mem_bytes")) / n));
        r.put("heap_bytes_per_socket_from_fresh",
            Math.round((num(atN, "heap_used_bytes") - num(fresh, "heap_used_bytes")) / n));
        r.put("bytes_per_socket_from_fresh", Math.round((num(atN, "heap_used_bytes") - num(fresh, "heap_used_bytes")
            + num(atN, "outside_heap_bytes") - num(fresh, "outside_heap_bytes")) / n));
      } else {
        r.put("bytes_per_socket", null);
      }
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.writeResult(r);
      System.out.printf("driver: hold: %s: %d sockets held (%d at the sample), %s bytes/socket (heap %s + native %s)%n",
          d.label, held, openAtSample, r.get("bytes_per_socket"), r.get("heap_bytes_per_socket"),
          r.get("native_bytes_per_socket"));
      return 0;
    } finally {
      d.stopClient();
    }
  }

  static final int IDLE_GOAL_SOCKETS = 5000;

  void holdFor(int seconds) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < end) {
      Thread.sleep(Math.min(10_000, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
      System.out.printf("driver: hold: %d sockets open, %d unexpected closes%n", d.joined.get(),
          d.unexpectedCloses.get());
    }
  }

  /**
   * The server's CPU (utime+stime, /proc/PID/stat) over the next {@code seconds}, as percent of one core,
   * while the sockets only keep their heartbeat; with the driver's and the whole box's beside it.
   */
  Map<String, Object> idleCpu(long pid, int seconds, double ticks, boolean report) throws InterruptedException {
    Map<String, Object> m = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    long[] a = d.cpuSample();
    long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < end) {
      Thread.sleep(Math.min(10_000, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
      if (report) {
        System.out.printf("driver: hold: idle window: %d sockets open, %d unexpected closes%n", d.joined.get(),
            d.unexpectedCloses.get());
      }
    }
    long[] b = d.cpuSample();
    double wall = (System.nanoTime() - t0) / 1e9;
    m.put("seconds", Driver.round(wall, 2));
    if (a != null && b != null && a[0] >= 0 && b[0] >= 0) {
      m.put("server_cpu_s", Driver.round((b[0] - a[0]) / ticks, 2));
      m.put("server_cpu_pct", Driver.round(100 * (b[0] - a[0]) / ticks / wall, 2));
      m.put("driver_cpu_pct", Driver.round(100 * (b[1] - a[1]) / ticks / wall, 2));
      m.put("box_cpu_busy_pct", b[3] == a[3] ? null : Driver.round(100.0 * (b[2] - a[2]) / (b[3] - a[3]), 1));
    } else {
      m.put("error", "no CPU sample of pid " + pid);
    }
    return m;
  }

  static double num(Map<String, Object> m, String k) {
    Object v = m.get(k);
    return v instanceof Number x ? x.doubleValue() : Double.NaN;
  }

  // ------------------------------------------------------------------------------------- memory

  static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");
  static final Pattern METASPACE_USED = Pattern.compile("Metaspace\\s+used (\\d+)K");

  /** The server's memory after a forced GC; {"error": ...} when it cannot be read. */
  Map<String, Object> sample(long pid) {
    Map<String, Object> m = new LinkedHashMap<>();
    try {
      long t0 = System.nanoTime();
      if (d.proto == Driver.Proto.SOCKETIO) {
        // node --expose-gc: the peer's /stats runs global.gc() and answers process.memoryUsage()
        String body = get(d.base + "/stats?gc=1");
        Map<?, ?> s = new com.fasterxml.jackson.databind.ObjectMapper().readValue(body, Map.class);
        if (!Boolean.TRUE.equals(s.get("gc"))) {
          m.put("warning", "the peer has no global.gc (start node with --expose-gc)");
        }
        long heapUsed = ((Number) s.get("heapUsed")).longValue();
        long heapTotal = ((Number) s.get("heapTotal")).longValue();
        long rss = rssBytes(pid);
        m.put("heap_used_bytes", heapUsed);
        m.put("heap_total_bytes", heapTotal);
        m.put("external_bytes", s.get("external"));
        m.put("rss_bytes", rss);
        m.put("outside_heap_bytes", rss - heapTotal);
      } else {
        jcmd(pid, "GC.run");
        String info = jcmd(pid, "GC.heap_info");
        Matcher u = HEAP_USED.matcher(info);
        if (!u.find()) {
          throw new IOException("no 'used NK' in GC.heap_info: " + info.strip());
        }
        long heapUsed = Long.parseLong(u.group(1)) * 1024;
        Thread.sleep(300);
        long rss = rssBytes(pid);
        m.put("heap_used_bytes", heapUsed);
        Matcher ms = METASPACE_USED.matcher(info);
        if (ms.find()) {
          m.put("metaspace_used_bytes", Long.parseLong(ms.group(1)) * 1024);
        }
        m.put("rss_bytes", rss);
        m.put("outside_heap_bytes", rss); // the heap is pre-touched: its pages are in RSS from the start
      }
      m.put("kernel_tcp_mem_bytes", kernelTcpBytes());
      m.put("threads", threads(pid));
      m.put("seconds", Driver.round((System.nanoTime() - t0) / 1e9, 2));
    } catch (Exception e) {
      m.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
    }
    return m;
  }

  static final Pattern HISTO_LINE = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");

  /**
   * JVM servers: {@code jcmd PID GC.class_histogram} (live objects: it runs a full GC first), class name
   * -> [instances, bytes]; null for node or when jcmd fails. Its difference between 0 and N sockets says
   * where the heap per socket goes.
   */
  Map<String, long[]> classHistogram(long pid) {
    if (d.proto == Driver.Proto.SOCKETIO) {
      return null;
    }
    try {
      Map<String, long[]> m = new java.util.HashMap<>();
      for (String line : jcmd(pid, "GC.class_histogram").split("\n")) {
        Matcher x = HISTO_LINE.matcher(line);
        if (x.find()) {
          m.put(x.group(3), new long[] {Long.parseLong(x.group(1)), Long.parseLong(x.group(2))});
        }
      }
      return m;
    } catch (Exception e) {
      System.err.println("driver: hold: class histogram: " + e);
      return null;
    }
  }

  /** The classes whose live bytes grew most from before to after, per socket. */
  static List<Map<String, Object>> growth(Map<String, long[]> before, Map<String, long[]> after, int n, int top) {
    List<Map<String, Object>> rows = new ArrayList<>();
    after.forEach((cls, a) -> {
      long[] b = before.getOrDefault(cls, new long[2]);
      long bytes = a[1] - b[1];
      if (bytes > 0) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("class", cls);
        row.put("instances_per_socket", Driver.round((a[0] - b[0]) / (double) n, 2));
        row.put("bytes_per_socket", Math.round(bytes / (double) n));
        rows.add(row);
      }
    });
    rows.sort((x, y) -> Long.compare((long) y.get("bytes_per_socket"), (long) x.get("bytes_per_socket")));
    return new ArrayList<>(rows.subList(0, Math.min(top, rows.size())));
  }

  static String jcmd(long pid, String command) throws IOException, InterruptedException {
    Path bin = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    String exe = Files.isExecutable(bin) ? bin.toString() : "jcmd";
    Process p = new ProcessBuilder(exe, Long.toString(pid), command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("jcmd " + command + " did not finish in 120 s");
    }
    if (p.exitValue() != 0) {
      throw new IOException("jcmd " + pid + " " + command + " exited " + p.exitValue() + ": " + out.strip());
    }
    return out;
  }

  static long rssBytes(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IOException("no VmRSS in /proc/" + pid + "/status");
  }

  static long threads(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("Threads:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  /** TCP's "mem" in /proc/net/sockstat (pages), in bytes: every TCP socket buffer on the box. */
  static long kernelTcpBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/net/sockstat"))) {
        if (line.startsWith("TCP:")) {
          String[] f = line.trim().split("\\s+");
          for (int i = 1; i + 1 < f.length; i++) {
            if (f[i].equals("mem")) {
              return Long.parseLong(f[i + 1]) * 4096;
            }
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      // not on Linux
    }
    return -1;
  }

  String get(String url) throws IOException, InterruptedException {
    HttpResponse<String> res = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (res.statusCode() / 100 != 2) {
      throw new IOException("GET " + url + ": HTTP " + res.statusCode());
    }
    return res.body();
  }

  /** The server's own count of open sockets (lms: lms_sockets_open summed over the nodes; peers: /health). */
  Long serverCount() {
    long sum = 0;
    try {
      for (URI b : d.bases) {
        switch (d.proto) {
          case LMS -> {
            Matcher m = Pattern.compile("(?m)^lms_sockets_open(?:\\{[^}]*\\})?\\s+([0-9.eE+]+)").matcher(get(b + "/metrics"));
            if (!m.find()) {
              return null;
            }
            sum += (long) Double.parseDouble(m.group(1));
          }
          case SOCKETIO -> sum += field(get(b + "/health"), "sockets");
          case PLAIN -> sum += field(get(b + "/health"), "members");
        }
      }
      return sum;
    } catch (Exception e) {
      return null;
    }
  }

  static long field(String json, String name) throws IOException {
    Object v = new com.fasterxml.jackson.databind.ObjectMapper().readValue(json, Map.class).get(name);
    if (!(v instanceof Number n)) {
      throw new IOException("no " + name + " in " + json);
    }
    return n.longValue();
  }

  /** Waits until the server counts at most {@code n} sockets (or the timeout). */
  void waitServerCount(long n, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      Long c = serverCount();
      if (c == null || c <= n) {
        return;
      }
      Thread.sleep(200);
    }
  }
}

package lms.bench;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler.ClientHandshakeStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * Issue 23's learning platform's day: students in their own {@code user:} rooms and in courses, their
 * instructors, and the four kinds of traffic of a platform, stepped up until one kind passes its bound.
 *
 * <p>{@code --students} sockets (5,000 in {@code --quick}), student i is user {@code stu-i} of course
 * {@code day<i / course-size + 1>} (50 a course), plus one instructor socket per course ({@code ins-<c>}).
 * Tokens as the engine expects them (contract §1): {@code sub}, {@code exp}, {@code courses}
 * {@code {"day7":"student"}} or {@code "instructor"}. Every socket joins its course; a student is in its
 * {@code user:} room automatically (the Socket.IO application puts it there at connect, from the same
 * token). Four classes of messages, each at a base rate, all multiplied by the step's multiplier:
 * <ul>
 *   <li><b>tick</b>: a student's socket publishes progress into its own {@code user:} room
 *       ({@code publish} frame, answered {@code ack}; Socket.IO: an event with an ack callback), one per
 *       student every {@code --tick-seconds} (30); timed from the frame's send to the ack;
 *   <li><b>notification</b>: the backend notifies students through the batch call, {@code --batch-size}
 *       (100) users a call, one per student every {@code --notify-seconds} (600); timed from the call to
 *       each user's {@code notification} frame. An engine without the batch call (404 to an empty batch)
 *       gets the same notifications as single {@code POST /api/v1/users/{u}/notifications} calls: noted
 *       in the result ({@code notifications_via});
 *   <li><b>announcement</b>: the backend publishes into a course ({@code POST /api/v1/rooms/course:X/events};
 *       Socket.IO: {@code POST /publish}), one per course every {@code --announce-seconds} (300); timed
 *       from the call to each member's event frame (its students and instructor);
 *   <li><b>presence</b>: an instructor's socket asks its course's presence ({@code presence} frame; Socket.IO:
 *       an event answered by callback from the adapter's rooms), one per instructor every
 *       {@code --presence-seconds} (20); timed from the frame to the answer.
 * </ul>
 * Each step: {@code --warmup} s (the first {@code --first-step-warmup}), {@code --seconds} measured, at most
 * {@code --drain} s for the answers and deliveries of what was sent in the window. A step <b>holds</b> when
 * every class's p99 is at most {@code --p99-bound-ms} (100) and nothing was lost: every frame answered,
 * every call 2xx (every batch item 202), every expected delivery received, no error frame, no socket closed.
 * The last step that held is the capacity (messages/s offered and the multiplier). HTTP calls go through
 * one {@link HttpPool} ({@code --publish-connections}, 8).
 *
 * <p>Never fails on timing: exits 0 whenever it could measure, 2 when no socket could get ready.
 */
final class LmsDay {

  static final class Options {
    int students = 5000;
    int courseSize = 50;
    double tickSeconds = 30;
    double notifySeconds = 600;
    double announceSeconds = 300;
    double presenceSeconds = 20;
    int batchSize = 100;
  }

  static final int TICK = 0, NOTE = 1, ANN = 2, PRES = 3;
  static final String[] CLASS = {"tick", "notification", "announcement", "presence"};
  static final String[] WHAT = {"publish -> ack", "call -> delivery", "call -> delivery", "query -> answer"};
  static final int PING_MS = 20_000;

  final Driver d;
  final Options o;
  final boolean lms;
  final int courses;
  final DaySocket[] students;
  final DaySocket[] instructors;
  final AtomicIntegerArray readyPerCourse;
  final AtomicInteger ready = new AtomicInteger();
  final AtomicInteger settled = new AtomicInteger();
  final AtomicInteger closes = new AtomicInteger();
  final Map<EventExecutor, DayStats> statsByLoop = new IdentityHashMap<>();
  final Map<String, AtomicLong> joinFailures = new java.util.concurrent.ConcurrentHashMap<>();
  Semaphore slots;
  HttpPool pool;
  String bearer;
  boolean batchApi = true;
  volatile boolean stopping;

  // per step, from the scheduler and the HTTP loop
  final AtomicLongArray sent = new AtomicLongArray(4);       // in the window: frames, items, calls, queries
  final AtomicLongArray expected = new AtomicLongArray(4);   // answers or deliveries due for the window's messages
  final AtomicLongArray httpErrors = new AtomicLongArray(4); // calls failed, non-2xx, items not 202 (window)
  final Map<String, AtomicLong> errorReasons = new java.util.concurrent.ConcurrentHashMap<>();
  final AtomicLong notReady = new AtomicLong();
  volatile long lateMaxNanos;

  LmsDay(Driver d) {
    this.d = d;
    this.o = d.day;
    this.lms = d.proto == Driver.Proto.LMS;
    this.courses = (o.students + o.courseSize - 1) / o.courseSize;
    this.students = new DaySocket[o.students];
    this.instructors = new DaySocket[courses];
    this.readyPerCourse = new AtomicIntegerArray(courses);
  }

  /** Per event loop, touched by its own thread only; read and reset through tasks on that loop. */
  static final class DayStats {
    final Histogram[] latency = new Histogram[4];
    final long[] received = new long[4]; // answers or deliveries of the messages sent in the window
    long echoes;                          // a student's own tick, delivered back to its socket
    final Map<String, Long> errors = new TreeMap<>();

    DayStats() {
      for (int k = 0; k < 4; k++) {
        latency[k] = new Histogram(Driver.HIGHEST_US, 3);
      }
    }

    void addTo(DayStats into) {
      for (int k = 0; k < 4; k++) {
        into.latency[k].add(latency[k]);
        into.received[k] += received[k];
      }
      into.echoes += echoes;
      errors.forEach((w, n) -> into.errors.merge(w, n, Long::sum));
    }

    void reset() {
      for (int k = 0; k < 4; k++) {
        latency[k].reset();
        received[k] = 0;
      }
      echoes = 0;
      errors.clear();
    }

    long errorCount() {
      return errors.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  static String course(int c) {
    return "day" + (c + 1);
  }

  int run() throws Exception {
    d.startClient();
    for (EventExecutor loop : d.group) {
      statsByLoop.put(loop, new DayStats());
    }
    slots = new Semaphore(d.connectConcurrency);
    pool = new HttpPool(d.base.getHost(), Driver.port(d.base), d.publishConnections);
    bearer = d.token("bench-backend", Map.of("roles", List.of("service")));
    Map<String, Object> r = d.result("lms-day");
    try {
      r.put("students", o.students);
      r.put("instructors", courses);
      r.put("courses", courses);
      r.put("course_size", o.courseSize);
      r.put("sockets", o.students + courses);
      Map<String, Object> base = new LinkedHashMap<>();
      base.put("tick_every_s_per_student", o.tickSeconds);
      base.put("notification_every_s_per_student", o.notifySeconds);
      base.put("announcement_every_s_per_course", o.announceSeconds);
      base.put("presence_every_s_per_instructor", o.presenceSeconds);
      base.put("batch_size", o.batchSize);
      r.put("base", base);
      double[] rates = baseRates();
      r.put("base_messages_per_s", Driver.round(rates[0] + rates[1] + rates[2] + rates[3], 2));
      r.put("p99_bound_ms", d.p99BoundMs);
      r.put("warmup_s", d.warmup);
      r.put("first_step_warmup_s", Math.max(d.warmup, d.firstStepWarmup));
      r.put("seconds", d.seconds);
      r.put("drain_s", d.drainSeconds);
      r.put("http_connections", d.publishConnections);

      // 0. is there a batch call? (an engine before issue 23 answers 404; a 400 to an empty batch means yes)
      String batchPath = lms ? "/api/v1/batch" : "/batch";
      int probed = pool.statusOf(bearer, batchPath, "{\"items\":[]}".getBytes(StandardCharsets.UTF_8));
      batchApi = probed != 404 && probed != 405 && probed != -1;
      r.put("notifications_via", batchApi ? "batch (" + batchPath + ", " + o.batchSize + " users a call)"
          : "single calls (POST /api/v1/users/{u}/notifications): the batch call answered " + probed);

      // 1. every socket: connect, (lms) welcome, join the course
      long t0 = System.nanoTime();
      long deadline = t0 + TimeUnit.SECONDS.toNanos(d.joinTimeoutSeconds);
      int launched = 0;
      for (int c = 0; c < courses && System.nanoTime() < deadline; c++) {
        instructors[c] = new DaySocket(false, c, c, 0);
        launched += launch(instructors[c], deadline) ? 1 : 0;
      }
      for (int i = 0; i < o.students && System.nanoTime() < deadline; i++) {
        students[i] = new DaySocket(true, i, i / o.courseSize, 0);
        launched += launch(students[i], deadline) ? 1 : 0;
      }
      while (settled.get() < launched && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      double joinSeconds = (System.nanoTime() - t0) / 1e9;
      r.put("sockets_ready", ready.get());
      r.put("join_seconds", Driver.round(joinSeconds, 2));
      r.put("join_failures", new TreeMap<>(joinFailures));
      System.out.printf("driver: lms-day: %s: %d of %d sockets ready in %.1f s%s; notifications via %s%n", d.label,
          ready.get(), o.students + courses, joinSeconds, joinFailures.isEmpty() ? "" : ", failures " + joinFailures,
          batchApi ? "the batch call" : "single calls (no batch call: " + probed + ")");
      if (ready.get() == 0) {
        r.put("error", "no socket got ready: " + joinFailures);
        d.writeResult(r);
        return 2;
      }
      Thread.sleep(1000);

      // 2. the steps
      List<Map<String, Object>> steps = new ArrayList<>();
      Map<String, Object> lastHeld = null;
      Map<String, Object> firstFailed = null;
      double ticks = Driver.clockTicks();
      for (int i = 0; i < d.steps.size(); i++) {
        Map<String, Object> x = step(i, d.steps.get(i), ticks);
        steps.add(x);
        System.out.printf("driver: lms-day: %s step %d (x%d, %s messages/s): p99 tick %s, notification %s, announcement %s, "
                + "presence %s ms; lost %s; errors %s; server CPU %s%%%s, driver %s%%, box %s%%: %s%n", d.label, i + 1,
            d.steps.get(i), x.get("offered_messages_per_s"), p99(x, TICK), p99(x, NOTE), p99(x, ANN), p99(x, PRES),
            x.get("lost"), x.get("errors"), x.get("server_cpu_pct"),
            x.containsKey("db_cpu_pct") ? " (+ PostgreSQL " + x.get("db_cpu_pct") + "%)" : "", x.get("driver_cpu_pct"),
            x.get("box_cpu_busy_pct"), Boolean.TRUE.equals(x.get("held")) ? "held" : "not held (" + x.get("why") + ")");
        if (Boolean.TRUE.equals(x.get("held"))) {
          lastHeld = x;
        } else {
          firstFailed = x;
          break;
        }
      }
      r.put("steps", steps);
      r.put("steps_tried", steps.size());
      r.put("steps_held", steps.stream().filter(x -> Boolean.TRUE.equals(x.get("held"))).count());
      r.put("capacity_multiplier", lastHeld == null ? 0L : lastHeld.get("multiplier"));
      r.put("capacity_messages_per_s", lastHeld == null ? 0.0 : lastHeld.get("offered_messages_per_s"));
      r.put("capacity_deliveries_per_s", lastHeld == null ? null : lastHeld.get("deliveries_per_s"));
      r.put("server_cpu_pct", lastHeld == null ? null : lastHeld.get("server_cpu_pct"));
      r.put("server_cpu_us_per_message", lastHeld == null ? null : lastHeld.get("server_cpu_us_per_message"));
      r.put("at_top_step", firstFailed == null);
      if (firstFailed != null) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("multiplier", firstFailed.get("multiplier"));
        f.put("offered_messages_per_s", firstFailed.get("offered_messages_per_s"));
        f.put("why", firstFailed.get("why"));
        r.put("first_failed_step", f);
      }
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      d.writeResult(r);
      System.out.printf("driver: lms-day: %s: capacity x%s, %s messages/s (%d of %d steps held)%n", d.label,
          r.get("capacity_multiplier"), r.get("capacity_messages_per_s"), (long) r.get("steps_held"), steps.size());
      return 0;
    } finally {
      stopping = true;
      pool.close();
      d.stopClient();
    }
  }

  static Object p99(Map<String, Object> x, int k) {
    Object c = x.get(CLASS[k]);
    return c instanceof Map<?, ?> m ? m.get("p99_ms") : null;
  }

  /** Messages/s of each class at x1: tick frames, notification items, announcement calls, presence queries. */
  double[] baseRates() {
    return new double[] {o.students / o.tickSeconds, o.students / o.notifySeconds, courses / o.announceSeconds,
        courses / o.presenceSeconds};
  }

  // ------------------------------------------------------------------------------------------- a step

  Map<String, Object> step(int index, long mult, double ticks) throws Exception {
    for (Map.Entry<EventExecutor, DayStats> e : statsByLoop.entrySet()) {
      e.getKey().submit(() -> e.getValue().reset()).get(5, TimeUnit.SECONDS);
    }
    for (int k = 0; k < 4; k++) {
      sent.set(k, 0);
      expected.set(k, 0);
      httpErrors.set(k, 0);
    }
    errorReasons.clear();
    notReady.set(0);
    lateMaxNanos = 0;
    int readyAtStart = ready.get();
    int closesBefore = closes.get();
    int warmup = index == 0 ? Math.max(d.warmup, d.firstStepWarmup) : d.warmup;
    long start = System.nanoTime() + 100_000_000L;
    d.measureStart = start + TimeUnit.SECONDS.toNanos(warmup);
    d.measureEnd = d.measureStart + TimeUnit.SECONDS.toNanos(d.seconds);
    double[] rates = baseRates();
    double[] perSecond = new double[4];
    for (int k = 0; k < 4; k++) {
      perSecond[k] = rates[k] * mult;
    }
    Thread scheduler = new Thread(() -> schedule(start, d.measureEnd, perSecond), "lms-day-step-" + (index + 1));
    scheduler.setDaemon(true);
    scheduler.start();
    Driver.sleepUntil(d.measureStart);
    Publish.Cpu c0 = Publish.Cpu.sample(d);
    Driver.sleepUntil(d.measureEnd);
    Publish.Cpu c1 = Publish.Cpu.sample(d);
    scheduler.join(10_000);
    pool.awaitIdle(HttpPool.ANSWER_TIMEOUT_MS + 2_000);

    long drainDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(d.drainSeconds);
    DayStats sum = collect();
    while (!complete(sum) && System.nanoTime() < drainDeadline) {
      Thread.sleep(100);
      sum = collect();
    }
    double window = (d.measureEnd - d.measureStart) / 1e9;
    Map<String, Object> x = new LinkedHashMap<>();
    x.put("step", index + 1);
    x.put("multiplier", mult);
    double offered = perSecond[0] + perSecond[1] + perSecond[2] + perSecond[3];
    x.put("offered_messages_per_s", Driver.round(offered, 1));
    x.put("warmup_s", warmup);
    x.put("seconds", d.seconds);
    x.put("sockets_ready", readyAtStart);
    long lost = 0;
    long errors = 0;
    long received = 0;
    List<String> why = new ArrayList<>();
    for (int k = 0; k < 4; k++) {
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("timed", WHAT[k]);
      c.put("offered_per_s", Driver.round(perSecond[k], 2));
      c.put("sent", sent.get(k));
      c.put("expected", expected.get(k));
      c.put("received", sum.received[k]);
      long l = Math.max(0, expected.get(k) - sum.received[k]);
      c.put("lost", l);
      c.put("http_errors", httpErrors.get(k));
      Publish.latency(c, "", sum.latency[k]);
      x.put(CLASS[k], c);
      lost += l;
      errors += httpErrors.get(k);
      received += sum.received[k];
      Double p99 = Driver.ms(sum.latency[k], 99);
      if (p99 != null && p99 > d.p99BoundMs) {
        why.add(CLASS[k] + " p99 " + p99 + " ms > " + d.p99BoundMs + " ms");
      }
      if (l > 0) {
        why.add(CLASS[k] + ": " + l + " of " + expected.get(k) + " missing");
      }
      if (httpErrors.get(k) > 0) {
        why.add(CLASS[k] + ": " + httpErrors.get(k) + " failed calls or items");
      }
    }
    errors += sum.errorCount();
    if (sum.errorCount() > 0) {
      why.add(sum.errorCount() + " error frames " + sum.errors);
    }
    int closed = closes.get() - closesBefore;
    if (closed > 0) {
      why.add(closed + " sockets closed");
    }
    x.put("lost", lost);
    x.put("errors", errors);
    x.put("error_frames", sum.errors);
    x.put("error_reasons", new TreeMap<>(errorReasons));
    x.put("tick_echoes", sum.echoes);
    x.put("not_ready_skipped", notReady.get());
    x.put("sockets_closed", closed);
    x.put("scheduler_late_max_ms", Driver.round(lateMaxNanos / 1e6, 1));
    x.put("deliveries_per_s", Math.round(received / window));
    x.put("messages_in_window", sent.get(TICK) + sent.get(NOTE) + sent.get(ANN) + sent.get(PRES));
    Publish.Cpu.put(x, c0, c1, window, sent.get(TICK) + sent.get(NOTE) + sent.get(ANN) + sent.get(PRES), "message", ticks);
    x.put("held", why.isEmpty());
    if (!why.isEmpty()) {
      x.put("why", String.join("; ", why));
    }
    return x;
  }

  boolean complete(DayStats s) {
    for (int k = 0; k < 4; k++) {
      if (s.received[k] < expected.get(k)) {
        return false;
      }
    }
    return true;
  }

  DayStats collect() throws Exception {
    DayStats sum = new DayStats();
    for (Map.Entry<EventExecutor, DayStats> e : statsByLoop.entrySet()) {
      DayStats copy = e.getKey().submit(() -> {
        DayStats c = new DayStats();
        e.getValue().addTo(c);
        return c;
      }).get(5, TimeUnit.SECONDS);
      copy.addTo(sum);
    }
    return sum;
  }

  /** The open-loop timeline of the four classes, from start to end, each at its own period. */
  void schedule(long start, long end, double[] perSecond) {
    long[] period = new long[4];
    long[] next = new long[4];
    int[] cursor = new int[4];
    for (int k = 0; k < 4; k++) {
      double calls = k == NOTE && batchApi ? perSecond[k] / o.batchSize : perSecond[k];
      period[k] = calls <= 0 ? Long.MAX_VALUE : Math.max(1, Math.round(1e9 / calls));
      next[k] = period[k] == Long.MAX_VALUE ? Long.MAX_VALUE
          : start + ThreadLocalRandom.current().nextLong(Math.min(period[k], 1_000_000_000L)); // classes out of phase
    }
    while (true) {
      int k = 0;
      for (int j = 1; j < 4; j++) {
        if (next[j] < next[k]) {
          k = j;
        }
      }
      long due = next[k];
      if (due >= end) {
        return;
      }
      long wait;
      while ((wait = due - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait); // no spinning: the box has 2 cores
      }
      long late = System.nanoTime() - due;
      if (late > lateMaxNanos) {
        lateMaxNanos = late;
      }
      fire(k, cursor[k]++);
      next[k] += period[k];
    }
  }

  boolean inWindow(long t) {
    return t >= d.measureStart && t < d.measureEnd;
  }

  void fire(int k, int n) {
    switch (k) {
      case TICK -> {
        DaySocket s = students[n % o.students];
        long t = System.nanoTime();
        if (s == null || !s.ready) {
          notReady.incrementAndGet();
          return;
        }
        String frame = lms
            ? "{\"type\":\"publish\",\"room\":\"user:" + s.user + "\",\"event\":\"progress\",\"data\":{\"c\":\"p\",\"t\":" + t
                + ",\"pct\":" + (n % 100) + "},\"id\":\"" + t + "\"}"
            : "42" + t + "[\"publish\",{\"room\":\"user:" + s.user + "\",\"event\":\"progress\",\"data\":{\"c\":\"p\",\"t\":"
                + t + ",\"pct\":" + (n % 100) + "}}]";
        s.send(frame);
        if (inWindow(t)) {
          sent.incrementAndGet(TICK);
          expected.incrementAndGet(TICK);
        }
      }
      case PRES -> {
        DaySocket s = instructors[n % courses];
        long t = System.nanoTime();
        if (s == null || !s.ready) {
          notReady.incrementAndGet();
          return;
        }
        String room = "course:" + course(s.course);
        s.send(lms ? "{\"type\":\"presence\",\"room\":\"" + room + "\",\"id\":\"" + t + "\"}"
            : "42" + t + "[\"presence\",{\"room\":\"" + room + "\"}]");
        if (inWindow(t)) {
          sent.incrementAndGet(PRES);
          expected.incrementAndGet(PRES);
        }
      }
      case ANN -> {
        int c = n % courses;
        long t = System.nanoTime();
        String room = "course:" + course(c);
        String data = "{\"c\":\"a\",\"t\":" + t + ",\"text\":\"Quiz 3 opens at noon\"}";
        String body = lms ? "{\"event\":\"announcement\",\"data\":" + data + "}"
            : "{\"room\":\"" + room + "\",\"event\":\"announcement\",\"data\":" + data + "}";
        boolean w = inWindow(t);
        if (w) {
          sent.incrementAndGet(ANN);
        }
        call(lms ? "/api/v1/rooms/" + room + "/events" : "/publish", body, t, false, (call, status, b, failure) -> {
          if (!w) {
            return;
          }
          if (failure == null) {
            expected.addAndGet(ANN, readyPerCourse.get(c)); // its students and its instructor
          } else {
            httpError(ANN, failure);
          }
        });
      }
      case NOTE -> {
        long t = System.nanoTime();
        if (batchApi) {
          StringBuilder b = new StringBuilder(o.batchSize * 80).append("{\"items\":[");
          for (int i = 0; i < o.batchSize; i++) {
            if (i > 0) {
              b.append(',');
            }
            b.append("{\"user\":\"stu-").append((n * o.batchSize + i) % o.students)
                .append("\",\"event\":\"grade\",\"data\":{\"c\":\"n\",\"t\":").append(t).append(",\"score\":87}}");
          }
          b.append("]}");
          boolean w = inWindow(t);
          if (w) {
            sent.addAndGet(NOTE, o.batchSize);
          }
          call(lms ? "/api/v1/batch" : "/batch", b.toString(), t, true, (call, status, body, failure) -> {
            if (!w) {
              return;
            }
            int accepted = failure == null && body != null ? Publish.count(body, "\"status\":202") : 0;
            expected.addAndGet(NOTE, accepted);
            if (failure != null) {
              httpError(NOTE, failure);
              httpErrors.addAndGet(NOTE, o.batchSize - 1L);
            } else if (accepted < o.batchSize) {
              httpErrors.addAndGet(NOTE, o.batchSize - accepted);
              errorReasons.computeIfAbsent("notification items not 202: "
                  + HttpPool.abbreviate(new String(body, StandardCharsets.UTF_8)), x -> new AtomicLong()).incrementAndGet();
            }
          });
        } else {
          int u = n % o.students;
          String body = "{\"event\":\"grade\",\"data\":{\"c\":\"n\",\"t\":" + t + ",\"score\":87}}";
          boolean w = inWindow(t);
          if (w) {
            sent.incrementAndGet(NOTE);
          }
          call("/api/v1/users/stu-" + u + "/notifications", body, t, false, (call, status, b, failure) -> {
            if (!w) {
              return;
            }
            if (failure == null) {
              expected.incrementAndGet(NOTE);
            } else {
              httpError(NOTE, failure);
            }
          });
        }
      }
      default -> throw new IllegalStateException();
    }
  }

  void call(String path, String body, long t, boolean keepBody, HttpPool.Answer answer) {
    pool.submit(new HttpPool.Call(HttpPool.post(d.base.getHost(), Driver.port(d.base), bearer, path,
        body.getBytes(StandardCharsets.UTF_8)), t, null, keepBody, answer));
  }

  void httpError(int k, String failure) {
    httpErrors.incrementAndGet(k);
    String w = CLASS[k] + ": " + (failure.length() > 90 ? failure.substring(0, 90) : failure);
    errorReasons.computeIfAbsent(errorReasons.size() < 30 ? w : "(other)", x -> new AtomicLong()).incrementAndGet();
  }

  // ----------------------------------------------------------------------------------- the sockets

  String token(DaySocket s) {
    return d.token(s.user, Map.of("courses", Map.of(course(s.course), s.student ? "student" : "instructor")));
  }

  /** Connects one socket (a connect slot held until it is ready or failed); false when no slot came in time. */
  boolean launch(DaySocket s, long deadline) throws InterruptedException {
    if (!slots.tryAcquire(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      joinFailures.computeIfAbsent("timeout while connecting", x -> new AtomicLong()).incrementAndGet();
      return false;
    }
    String ws = d.base.toString().replaceFirst("^http", "ws");
    String tok = token(s);
    s.uri = URI.create(lms ? ws + "/ws?token=" + tok : ws + "/socket.io/?EIO=4&transport=websocket&token=" + tok);
    connect(s);
    return true;
  }

  void connect(DaySocket s) {
    int i = s.student ? s.index : o.students + s.index;
    io.netty.bootstrap.Bootstrap b = d.bootstrap.clone().handler(Driver.initializer(s.uri, () -> s));
    InetSocketAddress remote = new InetSocketAddress(s.uri.getHost(), Driver.port(s.uri));
    InetAddress src = d.source(i);
    ChannelFuture f = src == null ? b.connect(remote) : b.connect(remote, new InetSocketAddress(src, 0));
    d.channels.add(f.channel());
    f.addListener(x -> {
      if (!x.isSuccess()) {
        s.failed("connect: " + x.cause().getClass().getSimpleName() + ": " + x.cause().getMessage());
      }
    });
  }

  static final byte[] ID = "\"id\":\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] MARK = "\"c\":\"".getBytes(StandardCharsets.US_ASCII);

  /**
   * One socket of the day, a student (ticks) or an instructor (presence queries): one attempt to connect;
   * a failed attempt hands its connect slot and its place in {@link #students} / {@link #instructors} to
   * the next one.
   */
  final class DaySocket extends ChannelInboundHandlerAdapter {
    static final int CONNECTING = 0, OPENING = 1, JOINING = 2, READY = 3;
    final boolean student;
    final int index;
    final int course;
    final String user;
    final int attempt;
    URI uri;
    int state;
    boolean slotHeld = true;
    boolean gaveUp;
    volatile boolean ready;
    volatile long lastSent;
    Channel ch;
    DayStats stats;
    ScheduledFuture<?> heartbeat;

    DaySocket(boolean student, int index, int course, int attempt) {
      this.student = student;
      this.index = index;
      this.course = course;
      this.attempt = attempt;
      this.user = student ? "stu-" + index : "ins-" + index;
    }

    void send(String text) {
      lastSent = System.nanoTime();
      Channel c = ch;
      if (c != null) {
        c.writeAndFlush(new TextWebSocketFrame(text), c.voidPromise());
      }
    }

    void release() {
      if (slotHeld) {
        slotHeld = false;
        settled.incrementAndGet();
        slots.release();
      }
    }

    /** Before it was ready: up to 3 more attempts after 0.5 s x 2^attempt plus jitter, then counted. */
    void failed(String why) {
      if (!slotHeld || gaveUp) {
        return;
      }
      gaveUp = true;
      if (attempt < 3 && !stopping) {
        DaySocket next = new DaySocket(student, index, course, attempt + 1); // takes over the slot
        next.uri = uri;
        if (student) {
          students[index] = next;
        } else {
          instructors[index] = next;
        }
        slotHeld = false;
        d.group.schedule(() -> connect(next), (500L << attempt) + ThreadLocalRandom.current().nextLong(500),
            TimeUnit.MILLISECONDS);
      } else {
        String k = why.length() > 120 ? why.substring(0, 120) : why;
        joinFailures.computeIfAbsent(joinFailures.size() < 30 ? k : "(other)", x -> new AtomicLong()).incrementAndGet();
        release();
      }
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      stats = statsByLoop.get(ctx.channel().eventLoop());
    }

    void becomeReady(ChannelHandlerContext ctx) {
      state = READY;
      ready = true;
      LmsDay.this.ready.incrementAndGet();
      readyPerCourse.incrementAndGet(course);
      release();
      if (lms) { // the browser client's heartbeat: a ping when it has sent nothing for half of 25 s... here 15 s of 20
        heartbeat = ctx.channel().eventLoop().scheduleAtFixedRate(() -> {
          if (System.nanoTime() - lastSent > TimeUnit.SECONDS.toNanos(15)) {
            send("{\"type\":\"ping\"}");
          }
        }, ThreadLocalRandom.current().nextLong(PING_MS), PING_MS, TimeUnit.MILLISECONDS);
      }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt == ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
        ch = ctx.channel();
        state = OPENING;
      } else if (evt == ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
        failed("handshake timeout");
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof TextWebSocketFrame f) {
          ByteBuf c = f.content();
          if (state == READY) {
            onFrame(ctx, c, System.nanoTime());
          } else {
            onSetup(ctx, c);
          }
        } else if (msg instanceof CloseWebSocketFrame cf) {
          if (!stopping && state == READY) {
            error("close " + cf.statusCode() + " " + cf.reasonText());
          }
          ctx.close();
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    void onSetup(ChannelHandlerContext ctx, ByteBuf c) {
      String room = "course:" + course(course);
      if (lms) {
        if (state == OPENING && Driver.contains(c, Driver.WELCOME_TYPE)) {
          state = JOINING;
          send("{\"type\":\"join\",\"room\":\"" + room + "\",\"id\":\"j\"}");
        } else if (state == JOINING && Driver.contains(c, Driver.JOINED_TYPE)) {
          becomeReady(ctx);
        } else if (Driver.contains(c, Driver.ERROR_TYPE)) {
          failed("lms error frame: " + c.toString(StandardCharsets.UTF_8));
          ctx.close();
        }
        return;
      }
      int n = c.readableBytes();
      byte b0 = n > 0 ? c.getByte(c.readerIndex()) : 0;
      byte b1 = n > 1 ? c.getByte(c.readerIndex() + 1) : 0;
      if (state == OPENING && b0 == '0') {                 // Engine.IO open
        send("40");
      } else if (state == OPENING && b0 == '4' && b1 == '0') { // CONNECT answered: join the course, with an ack
        state = JOINING;
        send("421[\"join\",\"" + room + "\"]");
      } else if (state == JOINING && b0 == '4' && b1 == '3') {
        if (c.toString(StandardCharsets.UTF_8).contains("\"error\"")) {
          failed("socket.io join refused: " + c.toString(StandardCharsets.UTF_8));
          ctx.close();
        } else {
          becomeReady(ctx);
        }
      } else if (b0 == '4' && b1 == '4') {
        failed("socket.io connect error: " + c.toString(StandardCharsets.UTF_8));
        ctx.close();
      } else if (n == 1 && b0 == '2') {
        send("3");
      }
    }

    void record(int k, long t, long now) {
      if (t == Driver.NO_T || t < d.measureStart || t >= d.measureEnd) {
        return;
      }
      stats.received[k]++;
      stats.latency[k].recordValue(Math.min(Math.max(0, (now - t) / 1000), Driver.HIGHEST_US));
    }

    /** A delivery that carries a class mark ("c":"p|a|n") and its stamp. */
    void onMarked(ByteBuf c, long now) {
      int m = Driver.after(c, MARK);
      if (m < 0 || m >= c.writerIndex()) {
        return;
      }
      switch (c.getByte(m)) {
        case 'a' -> record(ANN, Driver.findT(c), now);
        case 'n' -> record(NOTE, Driver.findT(c), now);
        case 'p' -> stats.echoes++;
        default -> { }
      }
    }

    void onFrame(ChannelHandlerContext ctx, ByteBuf c, long now) {
      int r = c.readerIndex();
      int n = c.readableBytes();
      if (lms) {
        if (n < 12) {
          return;
        }
        byte t0 = c.getByte(r + 9); // {"type":"X...
        switch (t0) {
          case 'a' -> record(TICK, Driver.digits(c, Driver.after(c, ID)), now);                     // ack
          case 'n' -> onMarked(c, now);                                             // notification
          case 'e' -> {
            if (c.getByte(r + 10) == 'v') {
              onMarked(c, now);                                                     // event
            } else {
              error(c.toString(StandardCharsets.UTF_8));                            // error
            }
          }
          case 'p' -> {
            if (c.getByte(r + 10) == 'r' && n > 17 && c.getByte(r + 17) == '"') {
              record(PRES, Driver.digits(c, Driver.after(c, ID)), now);                           // presence (not _diff)
            }
          }
          case 'l' -> error("left: " + c.toString(StandardCharsets.UTF_8));
          default -> { }
        }
        return;
      }
      byte b0 = c.getByte(r);
      byte b1 = n > 1 ? c.getByte(r + 1) : 0;
      if (n == 1 && b0 == '2') {
        send("3");
      } else if (b0 == '4' && b1 == '2') {
        onMarked(c, now);
      } else if (b0 == '4' && b1 == '3') {
        if (Driver.contains(c, ERROR_WORD)) {
          error(c.toString(StandardCharsets.UTF_8));
        } else {
          record(student ? TICK : PRES, Driver.digits(c, r + 2), now);
        }
      } else if (b0 == '4' && b1 == '1') {
        error("socket.io disconnect: " + c.toString(StandardCharsets.UTF_8));
      }
    }

    void error(String what) {
      String k = what.length() > 100 ? what.substring(0, 100) : what;
      stats.errors.merge(stats.errors.size() < 20 || stats.errors.containsKey(k) ? k : "(other)", 1L, Long::sum);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      if (heartbeat != null) {
        heartbeat.cancel(false);
      }
      if (state == READY) {
        ready = false;
        LmsDay.this.ready.decrementAndGet();
        readyPerCourse.decrementAndGet(course);
        if (!stopping) {
          closes.incrementAndGet();
        }
      } else {
        failed("closed before it was ready");
      }
      super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (state != READY) {
        failed(cause.getClass().getSimpleName() + ": " + cause.getMessage());
      }
      ctx.close();
    }
  }

  static final byte[] ERROR_WORD = "\"error\"".getBytes(StandardCharsets.US_ASCII);
}

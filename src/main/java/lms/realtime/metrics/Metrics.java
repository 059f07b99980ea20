package lms.realtime.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/** This node's Prometheus metrics (one registry per node, so several nodes can share a JVM in tests). */
public final class Metrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter framesIn = Counter.builder("lms_frames_in").description("Text frames received from sockets").register(registry);
  private final Counter framesOut = Counter.builder("lms_frames_out").description("Frames queued to sockets").register(registry);
  private final Counter eventsPublished = Counter.builder("lms_events_published").description("Room events numbered and stored").register(registry);
  private final Counter notifications = Counter.builder("lms_notifications").description("User notifications sent").register(registry);
  private final Counter queueDrops = Counter.builder("lms_queue_drops").description("Frames refused by a full outgoing queue").register(registry);
  private final Counter journalBatches = Counter.builder("lms_journal_batches")
      .description("Batches durable rooms' journals stored, one database transaction each").register(registry);
  private final Counter journalEvents = Counter.builder("lms_journal_events")
      .description("Entries durable rooms' journals stored for their rooms (events and removals)").register(registry);
  private final Counter gaps = Counter.builder("lms_event_gaps").description("Gaps a hub found in a room's events (recovered from the room)").register(registry);
  private final Timer publishToEnqueue =
      Timer.builder("lms_publish_to_enqueue")
          .description("From a room numbering an event to its frame queued on every local socket")
          .publishPercentileHistogram()
          .minimumExpectedValue(Duration.ofNanos(10_000))
          .maximumExpectedValue(Duration.ofSeconds(10))
          .register(registry);
  private final Map<Integer, Counter> closedByCode = new ConcurrentHashMap<>();
  private final Map<String, Counter> refusedByReason = new ConcurrentHashMap<>();
  private final Map<String, Counter> httpFailures = new ConcurrentHashMap<>();
  private final Map<String, Counter> handshakesByKind = new ConcurrentHashMap<>();
  private final Counter stashDrops = Counter.builder("lms_room_stash_drops")
      .description("Messages a starting room dropped because what it held was full").register(registry);
  private final AtomicInteger rooms = new AtomicInteger();
  private final AtomicInteger usersOnline = new AtomicInteger();

  public Metrics(Supplier<Number> openSockets) {
    Gauge.builder("lms_sockets_open", openSockets).description("Open WebSocket connections on this node").register(registry);
    Gauge.builder("lms_rooms_active", rooms, AtomicInteger::get).description("Room entities running on this node").register(registry);
    Gauge.builder("lms_users_online", usersOnline, AtomicInteger::get).description("User entities on this node with at least one socket").register(registry);
    // what a flood costs shows here: heap and direct buffers, open files (sockets), threads
    new JvmMemoryMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    // at 0 from the start, so that a dashboard's rate() and an alert on them have a series to read
    httpFailure("timeout");
    httpFailure("internal");
  }

  /**
   * The open connections of one kind ({@code websocket}, {@code sse}, {@code poll}: what carries
   * them), and its admitted handshakes from 0, so that dashboards have the series from the start.
   */
  public void connectionKind(String kind, Supplier<Number> open) {
    Gauge.builder("lms_connections_open", open).tag("kind", kind)
        .description("Open connections on this node, by what carries them (websocket, sse, poll)").register(registry);
    handshakes(kind);
  }

  /** A handshake admitted (the connection is open) for a connection of this kind. */
  public void handshakeAdmitted(String kind) {
    handshakes(kind).increment();
  }

  private Counter handshakes(String kind) {
    return handshakesByKind.computeIfAbsent(kind, k -> Counter.builder("lms_handshakes").tag("kind", k)
        .description("Handshakes admitted, by what carries the connection").register(registry));
  }

  /** 1 while the durable rooms' database answers, 0 while it does not (absent with no durable rooms). */
  public void journalUp(java.util.function.BooleanSupplier up) {
    Gauge.builder("lms_journal_up", () -> up.getAsBoolean() ? 1 : 0)
        .description("Whether the durable rooms' journal database answers (1) or not (0)").register(registry);
  }

  /**
   * The node's journal writer: the transactions it committed and the rows in them (their ratio is
   * how many durable writes share one database commit).
   */
  public <T> void journalCommits(T stats, ToDoubleFunction<T> commits, ToDoubleFunction<T> rows) {
    // Micrometer holds the counted object weakly: it must be one that lives as long as the node (a
    // lambda made here would be collected, and the counters read 0)
    FunctionCounter.builder("lms_journal_commits", stats, commits)
        .description("Database transactions the journal committed (group commit: every room's writes that waited)").register(registry);
    FunctionCounter.builder("lms_journal_rows", stats, rows)
        .description("Journal rows (events, removals) in those transactions").register(registry);
  }

  public void frameIn() {
    framesIn.increment();
  }

  public void framesOut(int n) {
    framesOut.increment(n);
  }

  public void eventPublished() {
    eventsPublished.increment();
  }

  public void notificationSent() {
    notifications.increment();
  }

  public void queueDrop() {
    queueDrops.increment();
  }

  /** A durable room's journal stored a batch of {@code entries}. */
  public void journalStored(int entries) {
    journalBatches.increment();
    journalEvents.increment(entries);
  }

  public void gapFound() {
    gaps.increment();
  }

  public void closed(int code) {
    closedByCode
        .computeIfAbsent(code, c -> Counter.builder("lms_sockets_closed").tag("code", Integer.toString(c)).description("Sockets the engine closed, by close code").register(registry))
        .increment();
  }

  /** A backend request that failed: {@code timeout} (503) or {@code internal} (500, a bug). */
  public void httpFailed(String reason) {
    httpFailure(reason).increment();
  }

  private Counter httpFailure(String reason) {
    return httpFailures.computeIfAbsent(reason,
        r -> Counter.builder("lms_http_failures").tag("reason", r).description("Backend requests that failed, by reason").register(registry));
  }

  /** Counts a message dropped by a starting room; returns the count so far (the log names the first and every 10,000th). */
  public long stashDropped() {
    stashDrops.increment();
    return (long) stashDrops.count();
  }

  public void handshakeRefused(String reason) {
    refusedByReason
        .computeIfAbsent(reason, r -> Counter.builder("lms_handshakes_refused").tag("reason", r).description("Handshakes refused, by reason").register(registry))
        .increment();
  }

  /** Records publish-to-enqueue from the event's publish time in epoch microseconds. */
  public void enqueued(long publishedAtMicros) {
    long micros = nowMicros() - publishedAtMicros;
    publishToEnqueue.record(Math.max(0, micros), TimeUnit.MICROSECONDS);
  }

  public void roomStarted() {
    rooms.incrementAndGet();
  }

  public void roomStopped() {
    rooms.decrementAndGet();
  }

  public void userOnline() {
    usersOnline.incrementAndGet();
  }

  public void userOffline() {
    usersOnline.decrementAndGet();
  }

  public String scrape() {
    return registry.scrape();
  }

  public static long nowMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }
}

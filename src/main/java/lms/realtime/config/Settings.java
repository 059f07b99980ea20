package lms.realtime.config;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/** Typed view of the {@code lms} block of the configuration, read once at start. */
public record Settings(
    String transport,
    String httpHost,
    int httpPort,
    Set<String> trustedProxies,
    int maxBodyBytes,
    int maxBatchItems,
    int maxBatchBytes,
    Duration askTimeout,
    int maxConnections,
    int httpBacklog,
    Duration httpIdleTimeout,
    Duration headerTimeout,
    int maxUnfinishedPerIp,
    boolean nettyEpoll,
    int nettyEventLoops,
    int nettyWriteBufferLow,
    int nettyWriteBufferHigh,
    String jwtSecret,
    String jwtPublicKeyFile,
    long clockSkewSeconds,
    String cookieName,
    int maxTokenBytes,
    Set<String> allowedOrigins,
    int maxConnectionsPerIp,
    int maxConnectionsPerUser,
    double ratePerSecond,
    int rateBurst,
    int rateStrikesBeforeClose,
    int maxFrameBytes,
    int outgoingBuffer,
    long outgoingBytes,
    Duration closeGrace,
    Duration closeHandshakeTimeout,
    int inboundInFlight,
    int maxRoomsPerConnection,
    int jsonMaxDepth,
    int jsonMaxStringLength,
    int jsonMaxNumberLength,
    int retryAfterSeconds,
    int retryAfterMinMs,
    int retryAfterMaxMs,
    int heartbeatSeconds,
    int historySize,
    Duration historyTtl,
    long historyMaxBytes,
    int roomStartingStash,
    Duration removalRetention,
    String clusterHost,
    int clusterPort,
    List<String> seedNodes,
    int managementPort,
    int hubShards,
    Duration shutdownCloseGrace,
    Duration keepAliveIdle,
    Fallback fallback,
    Durable durable,
    Internals internals) {

  /**
   * The {@code lms.fallback} block (contract §10): the streams' comment keep-alive, how long a poll
   * waits, the largest POST body; and how often waiting polls are looked at
   * ({@code lms.internals.poll-tick}).
   */
  public record Fallback(Duration keepAlive, Duration pollWait, int maxPostBytes, Duration pollTick) {
    static Fallback from(Config c) {
      return new Fallback(
          c.getDuration("fallback.keep-alive"),
          c.getDuration("fallback.poll-wait"),
          c.getBytes("fallback.max-post-bytes").intValue(),
          c.getDuration("internals.poll-tick"));
    }
  }

  /**
   * The {@code lms.durable} block: which room kinds keep their stream in the journal, what it keeps,
   * and the database it is kept in (an embedded H2 file under {@code dataDir} when {@code dbUrl} is
   * empty).
   */
  public record Durable(
      Set<String> kinds,
      int historySize,
      Duration historyTtl,
      long historyMaxBytes,
      String dataDir,
      long h2CacheBytes,
      String dbUrl,
      String dbUser,
      String dbPassword,
      int dbPoolSize,
      Duration dbConnectTimeout) {

    /** The room kinds there are (protocol's RoomName.Kind prefixes). */
    private static final Set<String> KINDS = Set.of("course", "live", "user");

    static Durable from(Config c) {
      Set<String> kinds = csv(c.getString("rooms")).stream().collect(Collectors.toUnmodifiableSet());
      for (String kind : kinds) {
        if (!KINDS.contains(kind)) {
          throw new IllegalStateException("LMS_DURABLE_ROOMS lists room kinds (course, live, user), not '" + kind + "'");
        }
      }
      return new Durable(
          kinds,
          c.getInt("history-size"),
          c.getDuration("history-ttl"),
          c.getBytes("history-max-bytes"),
          c.getString("data-dir"),
          c.getBytes("h2-cache-size"),
          c.getString("db.url"),
          c.getString("db.user"),
          c.getString("db.password"),
          c.getInt("db.pool-size"),
          c.getDuration("db.connect-timeout"));
    }

    /** Whether rooms of this kind ({@code course}, {@code live}, {@code user}) are durable. */
    public boolean isDurable(String kind) {
      return kinds.contains(kind);
    }

    public boolean any() {
      return !kinds.isEmpty();
    }
  }

  /** The {@code lms.internals} block: inner timings and sizes, set in the file only. */
  public record Internals(
      Duration emptyRoomGrace,
      Duration snapshotWriteTimeout,
      Duration snapshotReadTimeout,
      long snapshotMaxHistoryBytes,
      Duration rejoinGrace,
      int rejoinHeldMax,
      int rejoinBatch,
      Duration rejoinRetry,
      int hubHeldMax,
      Duration attachTimeout,
      Duration admitRetry,
      Duration shutdownCloseWait,
      Duration readinessProbeTimeout,
      Duration readinessProbeRetry,
      Duration routeResponseTimeout,
      int journalSnapshotEvery,
      int journalMaxPending,
      Duration journalRetryMin,
      Duration journalRetryMax,
      Duration dbProbeInterval) {

    static Internals from(Config c) {
      return new Internals(
          c.getDuration("empty-room-grace"),
          c.getDuration("snapshot-write-timeout"),
          c.getDuration("snapshot-read-timeout"),
          c.getBytes("snapshot-max-history-bytes"),
          c.getDuration("rejoin-grace"),
          c.getInt("rejoin-held-max"),
          c.getInt("rejoin-batch"),
          c.getDuration("rejoin-retry"),
          c.getInt("hub-held-max"),
          c.getDuration("attach-timeout"),
          c.getDuration("admit-retry"),
          c.getDuration("shutdown-close-wait"),
          c.getDuration("readiness-probe-timeout"),
          c.getDuration("readiness-probe-retry"),
          c.getDuration("route-response-timeout"),
          c.getInt("journal-snapshot-every"),
          c.getInt("journal-max-pending"),
          c.getDuration("journal-retry-min"),
          c.getDuration("journal-retry-max"),
          c.getDuration("db-probe-interval"));
    }
  }

  public static final String NETTY = "netty";
  public static final String PEKKO_HTTP = "pekko-http";

  public static Settings from(Config root) {
    Config c = root.getConfig("lms");
    String transport = c.getString("transport");
    if (!transport.equals(NETTY) && !transport.equals(PEKKO_HTTP)) {
      throw new IllegalStateException("LMS_TRANSPORT must be netty or pekko-http, not '" + transport + "'");
    }
    return new Settings(
        transport,
        c.getString("http.host"),
        c.getInt("http.port"),
        csv(c.getString("http.trusted-proxies")).stream().collect(Collectors.toUnmodifiableSet()),
        c.getInt("http.max-body-bytes"),
        c.getInt("http.max-batch-items"),
        c.getBytes("http.max-batch-bytes").intValue(),
        c.getDuration("http.ask-timeout"),
        c.getInt("http.max-connections"),
        c.getInt("http.backlog"),
        c.getDuration("http.idle-timeout"),
        c.getDuration("http.header-timeout"),
        c.getInt("http.max-unfinished-per-ip"),
        c.getBoolean("netty.epoll"),
        c.getInt("netty.event-loops"),
        c.getBytes("netty.write-buffer-low").intValue(),
        c.getBytes("netty.write-buffer-high").intValue(),
        c.getString("jwt.secret"),
        c.getString("jwt.public-key-file"),
        c.getLong("jwt.clock-skew-seconds"),
        c.getString("jwt.cookie-name"),
        c.getBytes("jwt.max-token-bytes").intValue(),
        csv(c.getString("allowed-origins")).stream().collect(Collectors.toUnmodifiableSet()),
        c.getInt("limits.max-connections-per-ip"),
        c.getInt("limits.max-connections-per-user"),
        c.getDouble("limits.rate-per-second"),
        c.getInt("limits.rate-burst"),
        c.getInt("limits.rate-strikes-before-close"),
        c.getInt("limits.max-frame-bytes"),
        c.getInt("limits.outgoing-buffer"),
        c.getBytes("limits.outgoing-bytes"),
        c.getDuration("limits.close-grace"),
        c.getDuration("limits.close-handshake-timeout"),
        c.getInt("limits.inbound-in-flight"),
        c.getInt("limits.max-rooms-per-connection"),
        c.getInt("limits.json-max-depth"),
        c.getInt("limits.json-max-string-length"),
        c.getInt("limits.json-max-number-length"),
        c.getInt("limits.retry-after-seconds"),
        c.getInt("limits.retry-after-min-ms"),
        c.getInt("limits.retry-after-max-ms"),
        c.getInt("heartbeat-seconds"),
        c.getInt("history.size"),
        Duration.ofSeconds(c.getLong("history.ttl-seconds")),
        c.getBytes("history.max-bytes"),
        c.getInt("rooms.starting-stash"),
        Duration.ofSeconds(c.getLong("removal-retention-seconds")),
        c.getString("cluster.host"),
        c.getInt("cluster.port"),
        csv(c.getString("cluster.seed-nodes")),
        c.getInt("cluster.management-port"),
        c.getInt("cluster.hub-shards"),
        c.getDuration("shutdown-close-grace"),
        c.getDuration("keep-alive-idle"),
        Fallback.from(c),
        Durable.from(c.getConfig("durable")),
        Internals.from(c.getConfig("internals")));
  }

  static List<String> csv(String value) {
    return Arrays.stream(value.split(","))
        .map(String::trim)
        .filter(s -> !s.isEmpty())
        .toList();
  }

  public boolean originAllowed(String origin) {
    return allowedOrigins.contains("*") || allowedOrigins.contains(origin);
  }
}

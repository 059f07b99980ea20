package lms.realtime.config;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Typed view of the {@code lms} block of the configuration, read once at start: one record per block
 * of {@code config/application.conf} ({@code settings.http().maxBodyBytes()} is
 * {@code lms.http.max-body-bytes}), each read by its own {@code from}. The keys that stand at the top
 * of {@code lms} ({@code transport}, {@code allowed-origins}, {@code heartbeat-seconds},
 * {@code keep-alive-idle}, {@code removal-retention-seconds}, {@code shutdown-close-grace}) stay at the
 * top here too, where a reader of the file looks for them. Each {@code from} is given the whole
 * {@code lms} block and reads its keys by their path in it ({@code http.port}), so that a value that
 * cannot be read is named as the file names it, not by its last word ({@code port}, which
 * {@code cluster} has too).
 */
public record Settings(
    String transport,
    Http http,
    Netty netty,
    Jwt jwt,
    Set<String> allowedOrigins,
    Limits limits,
    int heartbeatSeconds,
    Duration keepAliveIdle,
    Fallback fallback,
    History history,
    Durable durable,
    Rooms rooms,
    Duration removalRetention,
    Cluster cluster,
    Duration shutdownCloseGrace,
    Internals internals) {

  public static final String NETTY = "netty";
  public static final String PEKKO_HTTP = "pekko-http";

  public static Settings from(Config root) {
    Config lms = root.getConfig("lms");
    String transport = lms.getString("transport");
    if (!transport.equals(NETTY) && !transport.equals(PEKKO_HTTP)) {
      throw new IllegalStateException("LMS_TRANSPORT must be netty or pekko-http, not '" + transport + "'");
    }
    return new Settings(
        transport,
        Http.from(lms),
        Netty.from(lms),
        Jwt.from(lms),
        csvSet(lms.getString("allowed-origins")),
        Limits.from(lms),
        lms.getInt("heartbeat-seconds"),
        lms.getDuration("keep-alive-idle"),
        Fallback.from(lms),
        History.from(lms),
        Durable.from(lms),
        Rooms.from(lms),
        Duration.ofSeconds(lms.getLong("removal-retention-seconds")),
        Cluster.from(lms),
        lms.getDuration("shutdown-close-grace"),
        Internals.from(lms));
  }

  /** The {@code lms.http} block: the port's address, the backend API's bounds, the HTTP server's. */
  public record Http(
      String host,
      int port,
      Set<String> trustedProxies,
      int maxBodyBytes,
      int maxBatchItems,
      int maxBatchBytes,
      Duration askTimeout,
      int maxConnections,
      int backlog,
      Duration idleTimeout,
      Duration headerTimeout,
      int maxUnfinishedPerIp) {

    static Http from(Config lms) {
      return new Http(
          lms.getString("http.host"),
          lms.getInt("http.port"),
          csvSet(lms.getString("http.trusted-proxies")),
          lms.getInt("http.max-body-bytes"),
          lms.getInt("http.max-batch-items"),
          lms.getBytes("http.max-batch-bytes").intValue(),
          lms.getDuration("http.ask-timeout"),
          lms.getInt("http.max-connections"),
          lms.getInt("http.backlog"),
          lms.getDuration("http.idle-timeout"),
          lms.getDuration("http.header-timeout"),
          lms.getInt("http.max-unfinished-per-ip"));
    }
  }

  /** The {@code lms.netty} block: the netty transport's event loops and write-buffer marks. */
  public record Netty(boolean epoll, int eventLoops, int writeBufferLow, int writeBufferHigh) {
    static Netty from(Config lms) {
      return new Netty(
          lms.getBoolean("netty.epoll"),
          lms.getInt("netty.event-loops"),
          lms.getBytes("netty.write-buffer-low").intValue(),
          lms.getBytes("netty.write-buffer-high").intValue());
    }
  }

  /** The {@code lms.jwt} block: the keys tokens are checked with, and where and how long they are. */
  public record Jwt(String secret, String publicKeyFile, long clockSkewSeconds, String cookieName, int maxTokenBytes) {
    static Jwt from(Config lms) {
      return new Jwt(
          lms.getString("jwt.secret"),
          lms.getString("jwt.public-key-file"),
          lms.getLong("jwt.clock-skew-seconds"),
          lms.getString("jwt.cookie-name"),
          lms.getBytes("jwt.max-token-bytes").intValue());
    }
  }

  /**
   * The {@code lms.limits} block, kept whole as the file has it (its JSON bounds and retry advice
   * included): what one address, user or socket may hold or send, and how a socket is closed.
   */
  public record Limits(
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
      int retryAfterMaxMs) {

    static Limits from(Config lms) {
      return new Limits(
          lms.getInt("limits.max-connections-per-ip"),
          lms.getInt("limits.max-connections-per-user"),
          lms.getDouble("limits.rate-per-second"),
          lms.getInt("limits.rate-burst"),
          lms.getInt("limits.rate-strikes-before-close"),
          lms.getInt("limits.max-frame-bytes"),
          lms.getInt("limits.outgoing-buffer"),
          lms.getBytes("limits.outgoing-bytes"),
          lms.getDuration("limits.close-grace"),
          lms.getDuration("limits.close-handshake-timeout"),
          lms.getInt("limits.inbound-in-flight"),
          lms.getInt("limits.max-rooms-per-connection"),
          lms.getInt("limits.json-max-depth"),
          lms.getInt("limits.json-max-string-length"),
          lms.getInt("limits.json-max-number-length"),
          lms.getInt("limits.retry-after-seconds"),
          lms.getInt("limits.retry-after-min-ms"),
          lms.getInt("limits.retry-after-max-ms"));
    }
  }

  /**
   * The {@code lms.fallback} block (contract §10): the streams' comment keep-alive, how long a poll
   * waits, the largest POST body. How often waiting polls are looked at is
   * {@link Internals#pollTick}.
   */
  public record Fallback(Duration keepAlive, Duration pollWait, int maxPostBytes) {
    static Fallback from(Config lms) {
      return new Fallback(
          lms.getDuration("fallback.keep-alive"),
          lms.getDuration("fallback.poll-wait"),
          lms.getBytes("fallback.max-post-bytes").intValue());
    }
  }

  /** The {@code lms.history} block: what a room that is not durable keeps of its events in memory. */
  public record History(int size, Duration ttl, long maxBytes) {
    static History from(Config lms) {
      return new History(
          lms.getInt("history.size"),
          Duration.ofSeconds(lms.getLong("history.ttl-seconds")),
          lms.getBytes("history.max-bytes"));
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

    static Durable from(Config lms) {
      Set<String> kinds = csvSet(lms.getString("durable.rooms"));
      for (String kind : kinds) {
        if (!KINDS.contains(kind)) {
          throw new IllegalStateException("LMS_DURABLE_ROOMS lists room kinds (course, live, user), not '" + kind + "'");
        }
      }
      return new Durable(
          kinds,
          lms.getInt("durable.history-size"),
          lms.getDuration("durable.history-ttl"),
          lms.getBytes("durable.history-max-bytes"),
          lms.getString("durable.data-dir"),
          lms.getBytes("durable.h2-cache-size"),
          lms.getString("durable.db.url"),
          lms.getString("durable.db.user"),
          lms.getString("durable.db.password"),
          lms.getInt("durable.db.pool-size"),
          lms.getDuration("durable.db.connect-timeout"));
    }

    /** Whether rooms of this kind ({@code course}, {@code live}, {@code user}) are durable. */
    public boolean isDurable(String kind) {
      return kinds.contains(kind);
    }

    public boolean any() {
      return !kinds.isEmpty();
    }
  }

  /** The {@code lms.rooms} block: what a starting room holds while it reads its hand-off snapshot. */
  public record Rooms(int startingStash) {
    static Rooms from(Config lms) {
      return new Rooms(lms.getInt("rooms.starting-stash"));
    }
  }

  /** The {@code lms.cluster} block: this node's cluster address, its seeds, its hubs, Pekko Management. */
  public record Cluster(String host, int port, List<String> seedNodes, int hubShards, int managementPort) {
    static Cluster from(Config lms) {
      return new Cluster(
          lms.getString("cluster.host"),
          lms.getInt("cluster.port"),
          csv(lms.getString("cluster.seed-nodes")),
          lms.getInt("cluster.hub-shards"),
          lms.getInt("cluster.management-port"));
    }
  }

  /**
   * The {@code lms.internals} block: inner timings and sizes, set in the file only. Among them
   * {@code pollTick}, how often the node looks for long polls that have waited
   * {@link Fallback#pollWait}.
   */
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
      Duration pollTick,
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

    static Internals from(Config lms) {
      return new Internals(
          lms.getDuration("internals.empty-room-grace"),
          lms.getDuration("internals.snapshot-write-timeout"),
          lms.getDuration("internals.snapshot-read-timeout"),
          lms.getBytes("internals.snapshot-max-history-bytes"),
          lms.getDuration("internals.rejoin-grace"),
          lms.getInt("internals.rejoin-held-max"),
          lms.getInt("internals.rejoin-batch"),
          lms.getDuration("internals.rejoin-retry"),
          lms.getInt("internals.hub-held-max"),
          lms.getDuration("internals.attach-timeout"),
          lms.getDuration("internals.poll-tick"),
          lms.getDuration("internals.admit-retry"),
          lms.getDuration("internals.shutdown-close-wait"),
          lms.getDuration("internals.readiness-probe-timeout"),
          lms.getDuration("internals.readiness-probe-retry"),
          lms.getDuration("internals.route-response-timeout"),
          lms.getInt("internals.journal-snapshot-every"),
          lms.getInt("internals.journal-max-pending"),
          lms.getDuration("internals.journal-retry-min"),
          lms.getDuration("internals.journal-retry-max"),
          lms.getDuration("internals.db-probe-interval"));
    }
  }

  static List<String> csv(String value) {
    return Arrays.stream(value.split(","))
        .map(String::trim)
        .filter(s -> !s.isEmpty())
        .toList();
  }

  private static Set<String> csvSet(String value) {
    return csv(value).stream().collect(Collectors.toUnmodifiableSet());
  }

  public boolean originAllowed(String origin) {
    return allowedOrigins.contains("*") || allowedOrigins.contains(origin);
  }
}

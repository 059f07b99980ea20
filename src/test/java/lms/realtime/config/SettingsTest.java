package lms.realtime.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigResolveOptions;
import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import lms.realtime.Node;
import org.junit.jupiter.api.Test;

/**
 * {@link Settings} reads each block of {@code config/application.conf} into its own record: a key
 * set in one block (by its environment variable where it has one, as an operator sets it) shows in
 * that record and nowhere else, and a bad value still stops the start with the message it always had.
 * The file is the one the jar ships, resolved against the variables given here and not the test
 * process's own environment.
 */
class SettingsTest {

  /** {@code application.conf} as shipped, its {@code ${?LMS_...}} read from {@code env} only. */
  private static Config conf(Map<String, String> env, String overrides) {
    return ConfigFactory.parseString(overrides)
        .withFallback(ConfigFactory.parseMap(env))
        .withFallback(ConfigFactory.parseResources("application.conf"))
        .resolve(ConfigResolveOptions.noSystem());
  }

  private static Settings settings(Map<String, String> env, String overrides) {
    return Settings.from(conf(env, overrides));
  }

  private static final Settings DEFAULTS = settings(Map.of(), "");

  @Test
  void theDefaultsAreTheFilesValues() {
    Settings s = DEFAULTS;
    assertEquals(Settings.NETTY, s.transport());
    assertEquals(8080, s.http().port());
    assertEquals(Duration.ofSeconds(5), s.http().askTimeout());
    assertEquals(1 << 20, s.http().maxBatchBytes());
    assertEquals(65536, s.netty().writeBufferHigh());
    assertEquals(8192, s.jwt().maxTokenBytes());
    assertEquals(Set.of("http://localhost:8080"), s.allowedOrigins());
    assertEquals(65536, s.limits().maxFrameBytes());
    assertEquals(10000, s.limits().retryAfterMaxMs());
    assertEquals(25, s.heartbeatSeconds());
    assertEquals(Duration.ofSeconds(20), s.keepAliveIdle());
    assertEquals(1 << 20, s.fallback().maxPostBytes());
    assertEquals(200, s.history().size());
    assertEquals(Duration.ofMinutes(10), s.history().ttl());
    assertEquals(Set.of("course", "user"), s.durable().kinds());
    assertEquals(1000, s.durable().historySize());
    assertEquals(Duration.ofDays(7), s.durable().historyTtl());
    assertEquals(100000, s.rooms().startingStash());
    assertEquals(Duration.ofDays(1), s.removalRetention());
    assertEquals(7355, s.cluster().port());
    assertEquals(List.of(), s.cluster().seedNodes());
    assertEquals(Duration.ofSeconds(3), s.shutdownCloseGrace());
    assertEquals(Duration.ofSeconds(1), s.internals().pollTick());
    assertEquals(Duration.ofSeconds(1), s.internals().dbProbeInterval());
  }

  /** One variable per block that has one, the value it sets, and where that value must show. */
  @Test
  void eachBlocksVariableReachesItsRecordAndNoOther() {
    Map<String, Check> byVariable = new LinkedHashMap<>();
    byVariable.put("LMS_TRANSPORT=pekko-http", new Check("transport", Settings::transport, Settings.PEKKO_HTTP));
    byVariable.put("LMS_MAX_BODY_BYTES=12345", new Check("http", s -> s.http().maxBodyBytes(), 12345));
    byVariable.put("LMS_HTTP_PORT=9999", new Check("http", s -> s.http().port(), 9999));
    byVariable.put("LMS_JWT_COOKIE_NAME=session", new Check("jwt", s -> s.jwt().cookieName(), "session"));
    byVariable.put("LMS_ALLOWED_ORIGINS=https://a.example, https://b.example",
        new Check("allowedOrigins", Settings::allowedOrigins, Set.of("https://a.example", "https://b.example")));
    byVariable.put("LMS_RATE_BURST=7", new Check("limits", s -> s.limits().rateBurst(), 7));
    byVariable.put("LMS_HEARTBEAT_SECONDS=11", new Check("heartbeatSeconds", Settings::heartbeatSeconds, 11));
    byVariable.put("LMS_POLL_WAIT=4s", new Check("fallback", s -> s.fallback().pollWait(), Duration.ofSeconds(4)));
    byVariable.put("LMS_HISTORY_TTL_SECONDS=42", new Check("history", s -> s.history().ttl(), Duration.ofSeconds(42)));
    byVariable.put("LMS_DURABLE_HISTORY_SIZE=77", new Check("durable", s -> s.durable().historySize(), 77));
    byVariable.put("LMS_REMOVAL_RETENTION_SECONDS=60",
        new Check("removalRetention", Settings::removalRetention, Duration.ofMinutes(1)));
    byVariable.put("LMS_CLUSTER_PORT=7400", new Check("cluster", s -> s.cluster().port(), 7400));
    byVariable.forEach((assignment, check) -> {
      String[] kv = assignment.split("=", 2);
      check.holdsIn(settings(Map.of(kv[0], kv[1]), ""), assignment);
    });
  }

  /** The blocks set in the file only (no variable), by their key. */
  @Test
  void eachFileOnlyBlockIsReadFromItsKeys() {
    new Check("netty", s -> s.netty().eventLoops(), 3).holdsIn(settings(Map.of(), "lms.netty.event-loops = 3"), "netty");
    new Check("rooms", s -> s.rooms().startingStash(), 17)
        .holdsIn(settings(Map.of(), "lms.rooms.starting-stash = 17"), "rooms");
    new Check("keepAliveIdle", Settings::keepAliveIdle, Duration.ofSeconds(9))
        .holdsIn(settings(Map.of(), "lms.keep-alive-idle = 9s"), "keep-alive-idle");
    new Check("shutdownCloseGrace", Settings::shutdownCloseGrace, Duration.ofSeconds(1))
        .holdsIn(settings(Map.of(), "lms.shutdown-close-grace = 1s"), "shutdown-close-grace");
    new Check("internals", s -> s.internals().pollTick(), Duration.ofMillis(250))
        .holdsIn(settings(Map.of(), "lms.internals.poll-tick = 250ms"), "internals");
    new Check("limits", s -> s.limits().jsonMaxDepth(), 5)
        .holdsIn(settings(Map.of(), "lms.limits.json-max-depth = 5"), "limits");
  }

  @Test
  void originsAreExactOrAny() {
    Settings listed = settings(Map.of("LMS_ALLOWED_ORIGINS", "https://a.example"), "");
    assertTrue(listed.originAllowed("https://a.example"));
    assertFalse(listed.originAllowed("https://b.example"));
    assertTrue(settings(Map.of("LMS_ALLOWED_ORIGINS", "*"), "").originAllowed("https://b.example"));
  }

  @Test
  void aBadValueStopsTheStartWithItsMessage() {
    IllegalStateException transport = assertThrows(IllegalStateException.class,
        () -> Node.start(conf(Map.of("LMS_TRANSPORT", "grpc"), ""), false));
    assertEquals("LMS_TRANSPORT must be netty or pekko-http, not 'grpc'", transport.getMessage());
    IllegalStateException kinds = assertThrows(IllegalStateException.class,
        () -> Node.start(conf(Map.of("LMS_DURABLE_ROOMS", "course,lesson"), ""), false));
    assertEquals("LMS_DURABLE_ROOMS lists room kinds (course, live, user), not 'lesson'", kinds.getMessage());
    // a value that is not a number is named by its path in lms, as the file names it: two blocks have a port
    ConfigException http = assertThrows(ConfigException.class, () -> settings(Map.of("LMS_HTTP_PORT", "eighty"), ""));
    assertTrue(http.getMessage().endsWith(": http.port has type STRING rather than NUMBER"), http.getMessage());
    ConfigException cluster = assertThrows(ConfigException.class, () -> settings(Map.of("LMS_CLUSTER_PORT", "x"), ""));
    assertTrue(cluster.getMessage().endsWith(": cluster.port has type STRING rather than NUMBER"), cluster.getMessage());
  }

  /** A component of {@link Settings} that a key sets, and the value it must read back as. */
  private record Check(String component, Function<Settings, Object> read, Object expected) {
    /** The value shows where it belongs, and every other component is still the file's. */
    void holdsIn(Settings s, String what) {
      assertEquals(expected, read.apply(s), what);
      List<String> changed = new ArrayList<>();
      for (RecordComponent c : Settings.class.getRecordComponents()) {
        if (!value(c, s).equals(value(c, DEFAULTS))) {
          changed.add(c.getName());
        }
      }
      assertEquals(List.of(component), changed, what + " changed only " + component);
    }

    private static Object value(RecordComponent c, Settings s) {
      try {
        return c.getAccessor().invoke(s);
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(e);
      }
    }
  }
}

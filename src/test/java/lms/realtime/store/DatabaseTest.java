package lms.realtime.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import lms.realtime.config.Settings;
import lms.realtime.testkit.TestNode;
import org.junit.jupiter.api.Test;

/** The embedded journal's memory bound: H2's page cache is the size LMS_H2_CACHE_SIZE names. */
class DatabaseTest {

  @Test
  void theH2PageCacheIsTheSettingsBound() throws Exception {
    assertEquals("2", cacheMaxMib(Map.of("lms.durable.h2-cache-size", "2m")));
  }

  @Test
  void theDefaultBoundIsSixteenMebibytes() throws Exception {
    assertEquals("16", cacheMaxMib(Map.of()));
  }

  private static String cacheMaxMib(Map<String, Object> overrides) throws Exception {
    Path dir = Files.createTempDirectory("lms-db");
    Map<String, Object> all = new java.util.HashMap<>(overrides);
    all.put("lms.durable.data-dir", dir.toString());
    Database db = Database.of(Settings.from(TestNode.config(all)).durable());
    db.prepare();
    try (Connection c = db.connect();
        ResultSet r = c.createStatement().executeQuery(
            "SELECT SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS WHERE SETTING_NAME = 'info.CACHE_MAX_SIZE'")) {
      r.next();
      return r.getString(1);
    } finally {
      shutdown(db);
    }
  }

  private static void shutdown(Database db) throws SQLException {
    try (Connection c = db.connect()) {
      c.createStatement().execute("SHUTDOWN");
    }
  }
}

package lms.realtime.store;

import com.typesafe.config.Config;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Properties;

/**
 * How the journal's database is reached: its JDBC URL and credentials, and the timeouts that make a
 * lost database fail a call within seconds instead of hanging it (PostgreSQL's connect, login and
 * socket timeouts; H2 is in this process). {@link Database} checks it at start, and the journal
 * plugin, which Pekko makes from its configuration, gets the same settings there ({@link #toConfig}).
 */
record Connections(String url, String user, String password, boolean embedded, Duration timeout) {

  Connection open() throws SQLException {
    Properties props = new Properties();
    props.setProperty("user", user);
    props.setProperty("password", password);
    if (!embedded) {
      String seconds = Long.toString(Math.max(1, timeout.toSeconds()));
      props.setProperty("connectTimeout", seconds);
      props.setProperty("loginTimeout", seconds);
      props.setProperty("socketTimeout", Long.toString(Math.max(10, timeout.toSeconds())));
      // one multi-row INSERT per JDBC batch instead of a statement per row
      props.setProperty("reWriteBatchedInserts", "true");
    }
    return DriverManager.getConnection(url, props);
  }

  void close(Connection connection) {
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException ignored) {
        // closing a broken connection: nothing more to do
      }
    }
  }

  /** The keys a plugin's configuration carries them under (see {@link #fromConfig}). */
  java.util.Map<String, Object> toConfig() {
    return java.util.Map.of("url", url, "user", user, "password", password, "embedded", embedded,
        "timeout", timeout.toMillis() + "ms");
  }

  static Connections fromConfig(Config c) {
    return new Connections(c.getString("url"), c.getString("user"), c.getString("password"), c.getBoolean("embedded"),
        c.getDuration("timeout"));
  }
}

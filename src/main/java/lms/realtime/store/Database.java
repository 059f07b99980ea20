package lms.realtime.store;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import lms.realtime.config.Settings;

/**
 * The database durable rooms keep their journal in (contract §9): an embedded H2 file under
 * {@code lms.durable.data-dir} when no {@code LMS_DB_URL} is set (one node: nothing to install), a
 * PostgreSQL server otherwise (a cluster). It makes pekko-persistence-jdbc's configuration for it,
 * creates or checks the tables at start ({@link #prepare}), and its {@link Probe} says, while the
 * node runs, whether the database answers.
 */
public final class Database {
  private final Connections connections;
  private final Settings.Durable durable;

  private Database(String url, String user, String password, boolean embedded, Settings.Durable durable) {
    this.connections = new Connections(url, user, password, embedded, durable.dbConnectTimeout());
    this.durable = durable;
  }

  public static Database of(Settings.Durable durable) {
    if (!durable.dbUrl().isEmpty()) {
      if (!durable.dbUrl().startsWith("jdbc:postgresql:")) {
        throw new IllegalStateException("LMS_DB_URL must be a PostgreSQL JDBC URL (jdbc:postgresql://host:5432/db), not '"
            + durable.dbUrl() + "'");
      }
      return new Database(durable.dbUrl(), durable.dbUser(), durable.dbPassword(), false, durable);
    }
    Path file = Path.of(durable.dataDir()).toAbsolutePath().normalize().resolve("lms-journal");
    // WRITE_DELAY=0: a commit is in the file when the write returns (a kill -9 loses nothing that
    // was answered); DB_CLOSE_ON_EXIT=FALSE: H2's own shutdown hook must not close the database
    // under a graceful shutdown that is still handing rooms on.
    // CACHE_SIZE (KiB): H2's page cache, the journal's main heap cost on a node (LMS_H2_CACHE_SIZE)
    String h2 = "jdbc:h2:file:" + file + ";WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE;CACHE_SIZE="
        + Math.max(1, durable.h2CacheBytes() / 1024);
    return new Database(h2, "sa", "", true, durable);
  }

  public boolean embedded() {
    return connections.embedded();
  }

  /** The URL, for messages and logs (it carries no password: that is a setting of its own). */
  public String url() {
    return connections.url();
  }

  /**
   * What the journal plugins need on top of application.conf: where the database is, for the
   * node's group-commit journal ({@code lms-journal}, {@link GroupCommitJournal}: one writer
   * connection and {@code read-threads} for replays) and for pekko-persistence-jdbc's snapshot store
   * (its Slick pool, URL, driver and profile). Of {@code lms.durable.db.pool-size} connections, half
   * serve replays and half snapshots; the writer holds one more.
   */
  public Config pekkoConfig() {
    boolean embedded = connections.embedded();
    int half = Math.max(1, durable.dbPoolSize() / 2);
    Map<String, Object> db = new HashMap<>();
    db.put("url", connections.url());
    db.put("user", connections.user());
    db.put("password", connections.password());
    db.put("driver", embedded ? "org.h2.Driver" : "org.postgresql.Driver");
    db.put("numThreads", half);
    db.put("maxConnections", half);
    db.put("minConnections", 1);
    db.put("connectionTimeout", durable.dbConnectTimeout().toMillis());
    db.put("validationTimeout", Math.max(250, durable.dbConnectTimeout().toMillis()));
    // a pool made while the database is away still starts, and connects when it is back
    db.put("initializationFailFast", false);
    if (!embedded) {
      db.put("properties", Map.of(
          "connectTimeout", Math.max(1, durable.dbConnectTimeout().toSeconds()),
          "socketTimeout", 10));
    }
    Map<String, Object> root = new HashMap<>();
    root.put("pekko-persistence-jdbc.shared-databases.slick.profile",
        embedded ? "slick.jdbc.H2Profile$" : "slick.jdbc.PostgresProfile$");
    root.put("pekko-persistence-jdbc.shared-databases.slick.db", db);
    Map<String, Object> journal = new HashMap<>(connections.toConfig());
    journal.put("read-threads", half);
    root.put("lms-journal", journal);
    // started with the node (after prepare), not by the first durable room
    root.put("pekko.persistence.journal.auto-start-journals", java.util.List.of("lms-journal"));
    root.put("pekko.persistence.snapshot-store.auto-start-snapshot-stores", java.util.List.of("jdbc-snapshot-store"));
    return ConfigFactory.parseMap(root);
  }

  /**
   * Creates the tables where they are missing (every statement of the schema file may run again),
   * or fails with a message that names the setting to fix. Several nodes may start at once: on
   * PostgreSQL they take turns under an advisory lock.
   */
  public void prepare() {
    boolean embedded = connections.embedded();
    try {
      if (embedded) {
        Files.createDirectories(Path.of(durable.dataDir()));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot create LMS_DATA_DIR " + durable.dataDir() + ": " + e.getMessage());
    }
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        if (!embedded) {
          s.execute("SELECT pg_advisory_xact_lock(7355001)");
        }
        for (String statement : schema().split(";")) {
          if (!statement.isBlank()) {
            s.execute(statement);
          }
        }
      }
      c.commit();
    } catch (SQLException e) {
      throw new IllegalStateException("the journal database at " + connections.url() + " cannot be used: " + e.getMessage()
          + (embedded ? " (set LMS_DATA_DIR to a writable directory)"
              : " (check LMS_DB_URL, LMS_DB_USER and LMS_DB_PASSWORD; or LMS_DURABLE_ROOMS= to keep every room in memory)"));
    }
  }

  private String schema() {
    String file = connections.embedded() ? "/schema/h2.sql" : "/schema/postgres.sql";
    try (InputStream in = Database.class.getResourceAsStream(file)) {
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      return text.lines().filter(l -> !l.startsWith("--")).reduce("", (a, b) -> a + "\n" + b);
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("the schema " + file + " is missing from the build", e);
    }
  }

  Connection connect() throws SQLException {
    return connections.open();
  }
}

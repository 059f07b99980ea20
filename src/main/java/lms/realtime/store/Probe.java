package lms.realtime.store;

import java.sql.Connection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the journal's database answers, checked on a thread of its own (JDBC blocks) every
 * interval over one connection it keeps: {@code lms_journal_up} and the body of
 * {@code /health/ready} read it (not readiness itself: the node still takes traffic). It says when
 * the answer changes, once.
 */
public final class Probe implements BooleanSupplier, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Probe.class);

  private final Database database;
  private final AtomicBoolean up = new AtomicBoolean(true);
  private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "lms-db-probe");
    t.setDaemon(true);
    return t;
  });
  private Connection connection;

  private Probe(Database database) {
    this.database = database;
  }

  /** Starts probing (the first answer is assumed good: {@link Database#prepare} has just connected). */
  public static Probe start(Database database, java.time.Duration interval) {
    Probe probe = new Probe(database);
    probe.thread.scheduleWithFixedDelay(probe::check, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    return probe;
  }

  @Override
  public boolean getAsBoolean() {
    return up.get();
  }

  private void check() {
    boolean ok;
    try {
      if (connection == null || !connection.isValid(2)) {
        closeConnection();
        connection = database.connect();
      }
      ok = true;
    } catch (Exception e) {
      closeConnection();
      ok = false;
      if (up.get()) {
        LOG.warn("the journal database at {} does not answer ({}): durable publishes answer 503 until it does"
            + " (the node stays ready; /health/ready says journal down, lms_journal_up is 0)",
            database.url(), e.getMessage());
      }
    }
    if (ok && !up.get()) {
      LOG.info("the journal database at {} answers again", database.url());
    }
    up.set(ok);
  }

  private void closeConnection() {
    if (connection != null) {
      try {
        connection.close();
      } catch (Exception ignored) {
        // gone already
      }
      connection = null;
    }
  }

  @Override
  public void close() {
    thread.shutdownNow();
  }
}

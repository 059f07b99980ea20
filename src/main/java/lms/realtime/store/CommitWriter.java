package lms.realtime.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit: the one thread of a node that writes journal rows. Whatever the node's durable
 * rooms hand it while a transaction is under way waits, and goes into the next one together (up to
 * {@code maxRows} rows): one JDBC batch, one transaction, one commit, however many rooms wrote. A
 * commit costs about the same for one row as for hundreds (on H2 a commit is a write of its file's
 * chunk; on PostgreSQL a WAL flush), so under load the cost per event falls as the batches grow,
 * and an idle node still commits each write at once: nothing waits for a timer.
 *
 * <p>Every write's future completes when its transaction commits, or fails with the transaction (a
 * lost database fails every write of it; the rooms' journals then stop and retry, see
 * {@code room.JournalLink}). The connection is opened on first use and again after a failure.
 */
final class CommitWriter implements AutoCloseable {
  /** One row of the journal table, serialized. */
  record Row(String persistenceId, long seq, String writer, long timestamp, String adapterManifest, int serializerId,
      String serializerManifest, byte[] payload) {}

  private record Write(List<Row> rows, CompletableFuture<Void> done) {}

  private static final String INSERT = "INSERT INTO \"event_journal\" (\"persistence_id\", \"sequence_number\", \"deleted\","
      + " \"writer\", \"write_timestamp\", \"adapter_manifest\", \"event_ser_id\", \"event_ser_manifest\", \"event_payload\")"
      + " VALUES (?, ?, false, ?, ?, ?, ?, ?, ?)";

  private final Connections connections;
  private final int maxRows;
  private final long lingerStepNanos;
  private final long lingerMaxNanos;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition waiting = lock.newCondition();
  private final ArrayDeque<Write> queue = new ArrayDeque<>();
  private final Thread thread;
  private final AtomicLong commits = new AtomicLong();
  private final AtomicLong rows = new AtomicLong();
  private boolean closed;
  /** The writer waits for a first write (only then does a write wake it: see {@link #linger}). */
  private boolean idle;
  private Connection connection;

  CommitWriter(Connections connections, int maxRows, Duration lingerStep, Duration lingerMax, String name) {
    this.connections = connections;
    this.maxRows = maxRows;
    this.lingerStepNanos = lingerStep.toNanos();
    this.lingerMaxNanos = lingerMax.toNanos();
    this.thread = new Thread(this::run, name);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /** Queues rows for the next transaction; the future completes when they are committed. */
  CompletableFuture<Void> write(List<Row> rows) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    lock.lock();
    try {
      if (closed) {
        done.completeExceptionally(new IllegalStateException("the journal is closed"));
        return done;
      }
      queue.addLast(new Write(rows, done));
      if (idle) {
        waiting.signal();
      }
    } finally {
      lock.unlock();
    }
    return done;
  }

  /** Transactions committed so far, and the rows in them: rows / commits is the mean batch. */
  long commits() {
    return commits.get();
  }

  long rows() {
    return rows.get();
  }

  private void run() {
    List<Write> batch = new ArrayList<>();
    while (true) {
      lock.lock();
      try {
        while (queue.isEmpty() && !closed) {
          idle = true;
          waiting.awaitUninterruptibly();
          idle = false;
        }
        if (queue.isEmpty()) {
          break; // closed, and everything queued is written
        }
        linger();
        int n = 0;
        while (!queue.isEmpty() && (batch.isEmpty() || n + queue.peekFirst().rows().size() <= maxRows)) {
          Write w = queue.pollFirst();
          n += w.rows().size();
          batch.add(w);
        }
      } finally {
        lock.unlock();
      }
      commit(batch);
      batch.clear();
    }
    connections.close(connection);
  }

  /**
   * Under load, more writes are on their way while the first waits: a commit costs much more than a
   * row (on H2 most of a write's CPU was the commit's chunk), so the writer sleeps a
   * {@code lingerStep} at a time while the queue keeps growing, and commits once a step passes with
   * nothing new, or after {@code lingerMax}. A lone write waits one step. The writes that come in the
   * meantime do not wake it (a wake-up per write cost more CPU than the commits it saved on
   * PostgreSQL). Called with the lock held.
   */
  private void linger() {
    if (lingerMaxNanos <= 0) {
      return;
    }
    long deadline = System.nanoTime() + lingerMaxNanos;
    int seen = queue.size();
    while (!closed && queued() < maxRows) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      long step = Math.min(left, lingerStepNanos);
      long until = System.nanoTime() + step;
      // only close() signals now; a spurious wake-up sleeps the rest of the step
      for (long rest = step; rest > 0 && !closed; rest = until - System.nanoTime()) {
        try {
          waiting.awaitNanos(rest);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      if (queue.size() == seen) {
        return;
      }
      seen = queue.size();
    }
  }

  private int queued() {
    int n = 0;
    for (Write w : queue) {
      n += w.rows().size();
    }
    return n;
  }

  private void commit(List<Write> batch) {
    int n = 0;
    try {
      if (connection == null) {
        connection = connections.open();
        connection.setAutoCommit(false);
      }
      try (PreparedStatement insert = connection.prepareStatement(INSERT)) {
        for (Write w : batch) {
          for (Row r : w.rows()) {
            insert.setString(1, r.persistenceId());
            insert.setLong(2, r.seq());
            insert.setString(3, r.writer());
            insert.setLong(4, r.timestamp());
            insert.setString(5, r.adapterManifest());
            insert.setInt(6, r.serializerId());
            insert.setString(7, r.serializerManifest());
            insert.setBytes(8, r.payload());
            insert.addBatch();
            n++;
          }
        }
        insert.executeBatch();
      }
      connection.commit();
    } catch (SQLException | RuntimeException e) {
      rollbackAndDrop();
      for (Write w : batch) {
        w.done().completeExceptionally(e);
      }
      return;
    }
    commits.incrementAndGet();
    rows.addAndGet(n);
    for (Write w : batch) {
      w.done().complete(null);
    }
  }

  /** After a failure the connection may be broken: it is closed, and the next transaction opens another. */
  private void rollbackAndDrop() {
    if (connection != null) {
      try {
        connection.rollback();
      } catch (SQLException ignored) {
        // the connection is going anyway
      }
      connections.close(connection);
      connection = null;
    }
  }

  /** Writes what is queued, then stops the thread (waiting for it at most 10 s). */
  @Override
  public void close() {
    lock.lock();
    try {
      closed = true;
      waiting.signal();
    } finally {
      lock.unlock();
    }
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

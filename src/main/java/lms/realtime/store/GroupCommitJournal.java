package lms.realtime.store;

import com.typesafe.config.Config;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.persistence.AtomicWrite;
import org.apache.pekko.persistence.PersistentRepr;
import org.apache.pekko.persistence.journal.japi.AsyncWriteJournal;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import scala.concurrent.Future;
import scala.jdk.javaapi.CollectionConverters;
import scala.jdk.javaapi.FutureConverters;

/**
 * The durable rooms' journal plugin (Pekko Persistence's {@code AsyncWriteJournal}): the rows and
 * tables of pekko-persistence-jdbc ({@code event_journal}, with its columns and serialization), so
 * a database written by earlier versions reads on, and its snapshot store still serves the
 * snapshots; but every write of the node goes through one {@link CommitWriter}: the rooms' writes
 * share the database's commits (group commit) instead of one transaction each through Slick.
 * Replay, the highest sequence number and deletes run on a few threads of their own (JDBC blocks),
 * never on an actor's.
 */
public final class GroupCommitJournal extends AsyncWriteJournal {
  private static final String COLUMNS = "\"sequence_number\", \"deleted\", \"writer\", \"write_timestamp\", \"adapter_manifest\","
      + " \"event_ser_id\", \"event_ser_manifest\", \"event_payload\"";
  private static final String REPLAY = "SELECT " + COLUMNS + " FROM \"event_journal\" WHERE \"persistence_id\" = ?"
      + " AND \"sequence_number\" >= ? AND \"sequence_number\" <= ? AND \"deleted\" = false ORDER BY \"sequence_number\" LIMIT ?";
  private static final String HIGHEST = "SELECT MAX(\"sequence_number\") FROM \"event_journal\" WHERE \"persistence_id\" = ?";
  private static final String HIGHEST_UP_TO = HIGHEST + " AND \"sequence_number\" <= ?";
  private static final String DELETE = "DELETE FROM \"event_journal\" WHERE \"persistence_id\" = ? AND \"sequence_number\" < ?";
  private static final String MARK_DELETED = "UPDATE \"event_journal\" SET \"deleted\" = true WHERE \"persistence_id\" = ? AND \"sequence_number\" = ?";

  private final Connections connections;
  private final Serialization serialization;
  private final CommitWriter writer;
  private final ExecutorService reads;
  private final ThreadLocal<Connection> readConnection = new ThreadLocal<>();
  private final ConcurrentLinkedQueue<Connection> opened = new ConcurrentLinkedQueue<>();

  public GroupCommitJournal(Config config) {
    this.connections = Connections.fromConfig(config);
    this.serialization = SerializationExtension.get(context().system());
    this.writer = new CommitWriter(connections, config.getInt("max-batch-rows"), config.getDuration("linger-step"),
        config.getDuration(connections.embedded() ? "linger-max" : "linger-max-postgres"), "lms-journal-writer");
    AtomicInteger n = new AtomicInteger();
    this.reads = Executors.newFixedThreadPool(config.getInt("read-threads"), r -> {
      Thread t = new Thread(r, "lms-journal-read-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    JournalStats.get(context().system()).attach(writer);
  }

  @Override
  public Future<Iterable<Optional<Exception>>> doAsyncWriteMessages(Iterable<AtomicWrite> messages) {
    List<Optional<Exception>> results = new ArrayList<>();
    List<CommitWriter.Row> rows = new ArrayList<>();
    boolean rejected = false;
    for (AtomicWrite write : messages) {
      try {
        List<CommitWriter.Row> these = new ArrayList<>(write.size());
        for (PersistentRepr p : CollectionConverters.asJava(write.payload())) {
          these.add(row(p));
        }
        rows.addAll(these);
        results.add(Optional.empty());
      } catch (RuntimeException e) {
        // not serializable: this write is refused on its own (Pekko's "rejected"), the others go on
        results.add(Optional.of(e));
        rejected = true;
      }
    }
    Iterable<Optional<Exception>> outcome = rejected ? results : List.of();
    CompletableFuture<Void> stored = rows.isEmpty() ? CompletableFuture.completedFuture(null) : writer.write(rows);
    return FutureConverters.asScala(stored.thenApply(done -> outcome));
  }

  private CommitWriter.Row row(PersistentRepr p) {
    Object payload = p.payload();
    Serializer serializer = serialization.findSerializerFor(payload);
    long timestamp = p.timestamp() > 0 ? p.timestamp() : System.currentTimeMillis();
    return new CommitWriter.Row(p.persistenceId(), p.sequenceNr(), p.writerUuid(), timestamp, p.manifest(),
        serializer.identifier(), Serializers.manifestFor(serializer, payload), serializer.toBinary(payload));
  }

  @Override
  public Future<Void> doAsyncReplayMessages(String persistenceId, long from, long to, long max, Consumer<PersistentRepr> replay) {
    return read(c -> {
      try (PreparedStatement q = c.prepareStatement(REPLAY)) {
        q.setString(1, persistenceId);
        q.setLong(2, from);
        q.setLong(3, to);
        q.setLong(4, Math.min(max, Integer.MAX_VALUE));
        try (ResultSet rs = q.executeQuery()) {
          while (rs.next()) {
            Object payload = serialization.deserialize(rs.getBytes(8), rs.getInt(6), rs.getString(7)).get();
            PersistentRepr repr = PersistentRepr.apply(payload, rs.getLong(1), persistenceId, rs.getString(5), rs.getBoolean(2),
                ActorRef.noSender(), rs.getString(3));
            replay.accept(repr.withTimestamp(rs.getLong(4)));
          }
        }
      }
      return null;
    });
  }

  /** Kept even when every event was deleted (the last row stays, marked deleted): Pekko numbers on from it. */
  @Override
  public Future<Long> doAsyncReadHighestSequenceNr(String persistenceId, long from) {
    return read(c -> highest(c, HIGHEST, persistenceId, Long.MAX_VALUE));
  }

  /** Deletes the events up to {@code to}, but keeps the newest of them marked deleted (as pekko-persistence-jdbc does). */
  @Override
  public Future<Void> doAsyncDeleteMessagesTo(String persistenceId, long to) {
    return read(c -> {
      long highest = highest(c, HIGHEST_UP_TO, persistenceId, to);
      c.setAutoCommit(false);
      try (PreparedStatement delete = c.prepareStatement(DELETE); PreparedStatement mark = c.prepareStatement(MARK_DELETED)) {
        delete.setString(1, persistenceId);
        delete.setLong(2, highest);
        delete.executeUpdate();
        mark.setString(1, persistenceId);
        mark.setLong(2, highest);
        mark.executeUpdate();
        c.commit();
      } finally {
        c.setAutoCommit(true);
      }
      return null;
    });
  }

  private static long highest(Connection c, String sql, String persistenceId, long upTo) throws SQLException {
    try (PreparedStatement q = c.prepareStatement(sql)) {
      q.setString(1, persistenceId);
      if (upTo != Long.MAX_VALUE) {
        q.setLong(2, upTo);
      }
      try (ResultSet rs = q.executeQuery()) {
        return rs.next() ? rs.getLong(1) : 0L;
      }
    }
  }

  private interface Query<T> {
    T run(Connection c) throws SQLException;
  }

  /** Runs a read (or a delete) on a read thread with that thread's connection; a failure drops it, the next call opens another. */
  private <T> Future<T> read(Query<T> query) {
    CompletableFuture<T> result = CompletableFuture.supplyAsync(() -> {
      Connection c = readConnection.get();
      try {
        if (c == null) {
          c = connections.open();
          readConnection.set(c);
          opened.add(c);
        }
        return query.run(c);
      } catch (SQLException e) {
        readConnection.remove();
        if (c != null) {
          opened.remove(c);
          connections.close(c);
        }
        throw new IllegalStateException("journal read failed: " + e.getMessage(), e);
      }
    }, reads);
    return FutureConverters.asScala(result);
  }

  @Override
  public void postStop() throws Exception {
    writer.close();
    reads.shutdownNow();
    opened.forEach(connections::close);
    JournalStats.get(context().system()).detach(writer);
    super.postStop();
  }
}

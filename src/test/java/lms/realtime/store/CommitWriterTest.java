package lms.realtime.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The node's journal writer on a real (in-memory) H2 database with the journal's table: writes that
 * wait while a transaction is under way share the next one, each write's future completes at its
 * commit, and a transaction that fails fails every write in it, after which the writer opens a new
 * connection for the next one.
 */
class CommitWriterTest {
  private static final String TABLE = "CREATE TABLE \"event_journal\" (\"ordering\" BIGINT UNIQUE NOT NULL AUTO_INCREMENT,"
      + " \"deleted\" BOOLEAN DEFAULT false NOT NULL, \"persistence_id\" VARCHAR(255) NOT NULL, \"sequence_number\" BIGINT NOT NULL,"
      + " \"writer\" VARCHAR NOT NULL, \"write_timestamp\" BIGINT NOT NULL, \"adapter_manifest\" VARCHAR NOT NULL,"
      + " \"event_payload\" VARBINARY NOT NULL, \"event_ser_id\" INTEGER NOT NULL, \"event_ser_manifest\" VARCHAR NOT NULL,"
      + " \"meta_payload\" BLOB, \"meta_ser_id\" INTEGER, \"meta_ser_manifest\" VARCHAR, PRIMARY KEY(\"persistence_id\", \"sequence_number\"))";

  private static Connections database(String name) {
    return new Connections("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1", "sa", "", true, Duration.ofSeconds(3));
  }

  private static CommitWriter.Row row(String room, long seq) {
    return new CommitWriter.Row("Room|" + room, seq, "w-1", 1L, "", 33, "m", new byte[] {1, 2, 3});
  }

  private static long count(Connections db) throws Exception {
    try (Connection c = db.open(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM \"event_journal\"")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Test
  void writesThatWaitShareACommitAndEachIsAnsweredAtIt() throws Exception {
    Connections db = database("shared");
    try (Connection c = db.open(); Statement s = c.createStatement()) {
      s.execute(TABLE);
    }
    try (CommitWriter writer = new CommitWriter(db, 1000, Duration.ofMillis(20), Duration.ofMillis(200), "test-writer")) {
      List<CompletableFuture<Void>> done = new ArrayList<>();
      List<Thread> rooms = new ArrayList<>();
      for (int r = 0; r < 20; r++) {
        String room = "course:" + r;
        Thread t = new Thread(() -> {
          for (int seq = 1; seq <= 10; seq++) {
            synchronized (done) {
              done.add(writer.write(List.of(row(room, seq))));
            }
          }
        });
        rooms.add(t);
        t.start();
      }
      for (Thread t : rooms) {
        t.join();
      }
      CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
      assertEquals(200, count(db), "every row is in the table");
      assertEquals(200, writer.rows());
      assertTrue(writer.commits() < 200 / 2, "waiting writes shared their commits: " + writer.commits() + " commits for 200 rows");
    }
  }

  @Test
  void aFailedTransactionFailsEveryWriteInItAndTheNextOneWorks() throws Exception {
    Connections db = database("failing");
    try (Connection keep = db.open(); CommitWriter writer = new CommitWriter(db, 1000, Duration.ZERO, Duration.ZERO, "test-writer")) {
      // no table yet: the transaction fails, and with it every write it held
      CompletableFuture<Void> first = writer.write(List.of(row("course:1", 1), row("course:2", 1)));
      ExecutionException failed = assertThrows(ExecutionException.class, () -> first.get(10, TimeUnit.SECONDS));
      assertTrue(failed.getCause() instanceof java.sql.SQLException, failed.toString());
      try (Statement s = keep.createStatement()) {
        s.execute(TABLE);
      }
      writer.write(List.of(row("course:1", 1))).get(10, TimeUnit.SECONDS);
      assertEquals(1, count(db), "the next transaction, on a new connection, is stored");
      // a duplicate (persistence_id, seq) fails its whole transaction: nothing of it is stored
      CompletableFuture<Void> dup = writer.write(List.of(row("course:3", 1), row("course:1", 1)));
      assertThrows(ExecutionException.class, () -> dup.get(10, TimeUnit.SECONDS));
      assertEquals(1, count(db), "a failed transaction stores nothing");
    }
  }
}

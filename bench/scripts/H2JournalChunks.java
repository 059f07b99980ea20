// What H2 keeps on the heap as a journal ages (issue 23's soak): the engine's journal tables, written
// as the node's writer writes them (a commit per batch, WRITE_DELAY=0), by many rooms: each new user:
// room an epoch row, course rooms a stream of events with a snapshot and a delete every 500, user:
// rooms a notification now and then. Every STEP commits it prints H2's own figures (live chunks,
// their fill rate, the file, the page cache's use) and the heap after a GC. No engine; a hand
// measurement, never part of the build. From the repository's root:
//   H2=~/.m2/repository/com/h2database/h2/2.5.252/h2-2.5.252.jar
//   java -Xmx256m -cp $H2 bench/scripts/H2JournalChunks.java [commits 200000] [url options, e.g. ";CACHE_SIZE=4096"] [compact-every-ms]
// compact-every-ms > 0: every that many milliseconds, H2's MVStore.compact(90, 4 MiB) (what its
// background writer's housekeeping does, which WRITE_DELAY=0 turns off).
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

public class H2JournalChunks {
  public static void main(String[] a) throws Exception {
    int commits = a.length > 0 ? Integer.parseInt(a[0]) : 200_000;
    String opts = a.length > 1 ? a[1] : "";
    Path dir = Files.createTempDirectory("h2chunks");
    String url = "jdbc:h2:file:" + dir.resolve("j") + ";WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE" + opts;
    String schema = new String(H2JournalChunks.class.getResourceAsStream("/schema/h2.sql") == null
        ? Files.readAllBytes(Path.of("src/main/resources/schema/h2.sql"))
        : H2JournalChunks.class.getResourceAsStream("/schema/h2.sql").readAllBytes());
    Random random = new Random(23);
    try (Connection c = DriverManager.getConnection(url, "sa", "")) {
      for (String s : schema.lines().filter(l -> !l.startsWith("--")).reduce("", (x, y) -> x + "\n" + y).split(";")) {
        if (!s.isBlank()) {
          c.createStatement().execute(s);
        }
      }
      c.setAutoCommit(false);
      PreparedStatement insert = c.prepareStatement("INSERT INTO \"event_journal\" (\"persistence_id\", \"sequence_number\", \"deleted\","
          + " \"writer\", \"write_timestamp\", \"adapter_manifest\", \"event_ser_id\", \"event_ser_manifest\", \"event_payload\")"
          + " VALUES (?, ?, false, 'w', ?, '', 33, 'A', ?)");
      PreparedStatement delete = c.prepareStatement("DELETE FROM \"event_journal\" WHERE \"persistence_id\" = ? AND \"sequence_number\" < ?");
      PreparedStatement snapshot = c.prepareStatement("MERGE INTO \"snapshot\" (\"persistence_id\", \"sequence_number\", \"created\","
          + " \"snapshot_ser_id\", \"snapshot_ser_manifest\", \"snapshot_payload\") KEY (\"persistence_id\", \"sequence_number\") VALUES (?, ?, ?, 33, 'S', ?)");
      PreparedStatement oldSnapshots = c.prepareStatement("DELETE FROM \"snapshot\" WHERE \"persistence_id\" = ? AND \"sequence_number\" < ?");
      Map<String, Long> seq = new HashMap<>();
      byte[] event = new byte[300];
      byte[] history = new byte[120_000];
      int users = 0;
      long step = commits / 10;
      long compactEvery = a.length > 2 ? Long.parseLong(a[2]) : 0;
      long lastCompact = System.currentTimeMillis();
      org.h2.mvstore.MVStore store = ((org.h2.engine.SessionLocal) ((org.h2.jdbc.JdbcConnection) c).getSession())
          .getDatabase().getStore().getMvStore();
      for (long n = 1; n <= commits; n++) {
        int rows = 1 + random.nextInt(8);
        for (int r = 0; r < rows; r++) {
          double p = random.nextDouble();
          String pid = p < 0.3 ? "Room|user:u" + users++ // a new user: room (a new student, or one never seen)
              : p < 0.4 ? "Room|user:u" + random.nextInt(Math.max(1, users)) // a notification
              : "Room|course:c" + random.nextInt(30);
          long s = seq.merge(pid, 1L, Long::sum);
          insert.setString(1, pid);
          insert.setLong(2, s);
          insert.setLong(3, System.currentTimeMillis());
          insert.setBytes(4, event);
          insert.executeUpdate();
          if (s % 500 == 0) {
            snapshot.setString(1, pid);
            snapshot.setLong(2, s);
            snapshot.setLong(3, System.currentTimeMillis());
            snapshot.setBytes(4, history);
            snapshot.executeUpdate();
            oldSnapshots.setString(1, pid);
            oldSnapshots.setLong(2, s - 1000);
            oldSnapshots.executeUpdate();
            delete.setString(1, pid);
            delete.setLong(2, s - 1);
            delete.executeUpdate();
          }
        }
        c.commit();
        if (compactEvery > 0 && System.currentTimeMillis() - lastCompact >= compactEvery) {
          store.compact(90, 4 << 20);
          lastCompact = System.currentTimeMillis();
        }
        if (n % step == 0) {
          report(c, n, users, dir);
        }
      }
    }
  }

  private static void report(Connection c, long commits, int users, Path dir) throws SQLException {
    Map<String, String> info = new HashMap<>();
    try (ResultSet rs = c.createStatement().executeQuery("SELECT SETTING_NAME, SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS WHERE SETTING_NAME LIKE 'info.%'")) {
      while (rs.next()) {
        info.put(rs.getString(1), rs.getString(2));
      }
    }
    System.gc();
    long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    System.out.printf("commits %7d  user rooms %6d  chunks %5s (fill %3s%%)  file %6d KB  page cache %2s of %s MB  heap after GC %6.1f MB%n",
        commits, users, info.get("info.CHUNK_COUNT"), info.get("info.CHUNKS_FILL_RATE"),
        Long.parseLong(info.get("info.FILE_SIZE")) / 1024, info.get("info.CACHE_SIZE"), info.get("info.CACHE_MAX_SIZE"), heap / 1048576.0);
  }
}

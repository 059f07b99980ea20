// H2's own cost per journal write: the engine's H2 journal table (pekko-persistence-jdbc's
// event_journal), 1000 one-row streams (user: rooms), then one stream (a course room) written one
// insert-and-commit at a time, as the journal writes an event, with a delete every 500 (as after a
// snapshot). Prints the process CPU and wall time per insert and the file size, three rounds of 3000.
// A hand measurement, never part of the build. From the repository's root:
//   java -cp ~/.m2/repository/com/h2database/h2/2.5.252/h2-2.5.252.jar bench/scripts/H2JournalInserts.java "" BLOB
//   java -cp ~/.m2/repository/com/h2database/h2/2.5.252/h2-2.5.252.jar bench/scripts/H2JournalInserts.java "" VARBINARY
// The first argument is appended to the JDBC URL (e.g. ";RETENTION_TIME=1000"), the second is the payload column's type.
import java.sql.*;
import java.lang.management.*;
import java.nio.file.*;

public class H2JournalInserts {
  public static void main(String[] a) throws Exception {
    String opts = a.length > 0 ? a[0] : "";
    Path dir = Files.createTempDirectory("h2micro");
    String url = "jdbc:h2:file:" + dir.resolve("j") + ";WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE" + opts;
    String blobType = a.length > 1 ? a[1] : "BLOB";
    try (Connection c = DriverManager.getConnection(url, "sa", "")) {
      c.createStatement().execute("CREATE TABLE ej (ordering BIGINT UNIQUE NOT NULL AUTO_INCREMENT, deleted BOOLEAN DEFAULT false NOT NULL, persistence_id VARCHAR(255) NOT NULL, sequence_number BIGINT NOT NULL, writer VARCHAR NOT NULL, write_timestamp BIGINT NOT NULL, adapter_manifest VARCHAR NOT NULL, event_payload " + blobType + " NOT NULL, event_ser_id INTEGER NOT NULL, event_ser_manifest VARCHAR NOT NULL, meta_payload BLOB, meta_ser_id INTEGER, meta_ser_manifest VARCHAR, PRIMARY KEY(persistence_id, sequence_number))");
      c.createStatement().execute("CREATE UNIQUE INDEX ej_idx ON ej(ordering)");
      c.setAutoCommit(false);
      PreparedStatement ins = c.prepareStatement("INSERT INTO ej (deleted, persistence_id, sequence_number, writer, write_timestamp, adapter_manifest, event_payload, event_ser_id, event_ser_manifest) VALUES (false,?,?,?,?,?,?,?,?)");
      byte[] payload = new byte[380];
      for (int i = 0; i < payload.length; i++) payload[i] = (byte) ('a' + i % 26);
      for (int u = 0; u < 1000; u++) { insert(ins, "Room|user:u" + u, 1, new byte[40]); c.commit(); }
      OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
      com.sun.management.OperatingSystemMXBean sos = (com.sun.management.OperatingSystemMXBean) os;
      long seq = 0;
      for (int round = 0; round < 3; round++) {
        long cpu0 = sos.getProcessCpuTime(), t0 = System.nanoTime();
        int n = 3000;
        for (int i = 0; i < n; i++) {
          insert(ins, "Room|course:1", ++seq, payload);
          c.commit();
          if (seq % 500 == 0) { // snapshot-like: delete events before seq-1000
            try (PreparedStatement d = c.prepareStatement("DELETE FROM ej WHERE persistence_id=? AND sequence_number<=?")) { d.setString(1, "Room|course:1"); d.setLong(2, seq - 1000); d.executeUpdate(); }
            c.commit();
          }
        }
        long cpu = sos.getProcessCpuTime() - cpu0, wall = System.nanoTime() - t0;
        System.out.printf("%s %s round %d: %.1f us CPU/insert, %.1f us wall/insert, file %d KB%n", opts, blobType, round, cpu / 1e3 / n, wall / 1e3 / n, Files.size(dir.resolve("j.mv.db")) / 1024);
      }
    }
  }
  static void insert(PreparedStatement ins, String pid, long seq, byte[] p) throws SQLException {
    ins.setString(1, pid); ins.setLong(2, seq); ins.setString(3, "6f9c8e52-7c0f-4a4b-9e1f-1a2b3c4d5e6f"); ins.setLong(4, System.currentTimeMillis());
    ins.setString(5, ""); ins.setBytes(6, p); ins.setInt(7, 33); ins.setString(8, "lms.realtime.room.RoomJournal$Appended"); ins.executeUpdate();
  }
}

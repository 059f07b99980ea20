package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import lms.realtime.config.Settings;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.store.Database;
import lms.realtime.testkit.TestNode;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A durable room's journal, talked to as its room does (a probe in the room's place), on the real
 * pekko-persistence-jdbc journal in an embedded H2 file: every name a room may have gets a journal
 * that recovers what it stored, under the persistence id {@code Room|<name>} of every release.
 */
class RoomJournalTest {
  private Database database;
  private Settings settings;
  private ActorTestKit kit;

  @BeforeEach
  void start() {
    Config config = TestNode.config(Map.of("pekko.actor.provider", "local"));
    settings = Settings.from(config);
    database = Database.of(settings.durable());
    database.prepare();
    kit = ActorTestKit.create("journal", database.pekkoConfig().withFallback(config));
  }

  @AfterEach
  void stop() {
    kit.shutdownTestKit();
  }

  /** Issue 22: "user:auth0|abc" made PersistenceId.of throw, so the journal never started. */
  @Test
  void aNameWithPipesRecoversWhatItStored() throws Exception {
    for (String name : List.of("user:auth0|abc", "course:a|b|c", "live:|", "course:42")) {
      TestProbe<RoomInbox> room = kit.createTestProbe(RoomInbox.class);
      ActorRef<RoomJournal.Command> journal = kit.spawn(RoomJournal.create(name, room.getRef(), settings, java.time.Clock.systemUTC()));
      JournalLink.Recovered first = room.expectMessageClass(JournalLink.Recovered.class);
      assertEquals(0, first.seq(), name);
      journal.tell(new RoomJournal.Write(List.of(
          new RoomJournal.Appended(new History.Entry(1, System.currentTimeMillis(), "{\"seq\":1}", "id-1")),
          new RoomJournal.UserRemoved("auth0|gone", System.currentTimeMillis() / 1000))));
      room.expectMessage(JournalLink.Wrote.INSTANCE);
      kit.stop(journal);

      kit.spawn(RoomJournal.create(name, room.getRef(), settings, java.time.Clock.systemUTC()));
      JournalLink.Recovered again = room.expectMessageClass(JournalLink.Recovered.class);
      assertEquals(first.epoch(), again.epoch(), name);
      assertEquals(1, again.seq(), name);
      assertEquals("id-1", again.history().get(0).id(), name);
      assertEquals(java.util.Set.of("auth0|gone"), again.removedAt().keySet(), name);
    }
    // the id string is the one PersistenceId.of("Room", name) made for names without "|": journals
    // written before stay readable
    assertEquals(new TreeSet<>(List.of("Room|course:42", "Room|course:a|b|c", "Room|live:|", "Room|user:auth0|abc")),
        persistenceIds());
  }

  private TreeSet<String> persistenceIds() throws Exception {
    TreeSet<String> ids = new TreeSet<>();
    try (var c = DriverManager.getConnection(database.url(), "sa", "");
        ResultSet rows = c.createStatement().executeQuery("SELECT DISTINCT \"persistence_id\" FROM \"event_journal\"")) {
      while (rows.next()) {
        ids.add(rows.getString(1));
      }
    }
    return ids;
  }
}

package lms.realtime.room;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import lms.realtime.config.Settings;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.testkit.TestClock;
import lms.realtime.testkit.TestNode;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import org.apache.pekko.persistence.testkit.ProcessingSuccess$;
import org.apache.pekko.persistence.testkit.WriteEvents;
import org.apache.pekko.persistence.testkit.javadsl.EventSourcedBehaviorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

/**
 * A durable room's journal with {@link EventSourcedBehaviorTestKit}: Pekko's in-memory journal and
 * snapshot store, a probe in the room's place and a test clock. What it persists, how many writes
 * a batch costs, its snapshots, and what a recovery brings back (and leaves out, once expired).
 * {@link RoomJournalTest} runs it on the real JDBC journal.
 */
class RoomJournalBehaviorTest {
  static final int SNAPSHOT_EVERY = 4;
  static final ActorTestKit KIT = ActorTestKit.create("room-journal", config());
  /** The in-memory journal is the system's: each test's room is its own. */
  static final java.util.concurrent.atomic.AtomicInteger ROOMS = new java.util.concurrent.atomic.AtomicInteger();

  final TestClock clock = new TestClock();
  final Settings settings = Settings.from(KIT.system().settings().config());
  final TestProbe<RoomInbox> room = KIT.createTestProbe(RoomInbox.class);
  /** The journal's writes, each the events of one: a batch must be one. */
  final List<List<Object>> writes = new ArrayList<>();
  EventSourcedBehaviorTestKit<RoomJournal.Command, RoomJournal.Event, RoomJournal.State> journal;
  JournalLink.Recovered recovered;
  String name;
  String persistenceId;

  static Config config() {
    return EventSourcedBehaviorTestKit.config()
        .withFallback(PersistenceTestKitSnapshotPlugin.config())
        .withFallback(TestNode.config(Map.of("pekko.actor.provider", "local", "lms.internals.journal-snapshot-every", SNAPSHOT_EVERY)));
  }

  @AfterAll
  static void stop() {
    KIT.shutdownTestKit();
  }

  @BeforeEach
  void start() {
    // its commands and state stay in the room's actor; its events go to the database: they must serialize
    name = "live:j" + ROOMS.incrementAndGet();
    persistenceId = "Room|" + name;
    journal = EventSourcedBehaviorTestKit.create(KIT.system(), RoomJournal.create(name, room.ref(), settings, clock),
        EventSourcedBehaviorTestKit.disabledSerializationSettings().withEnabled(true).withVerifyEvents(true));
    journal.persistenceTestKit().withPolicy((persistenceId, operation) -> {
      if (operation instanceof WriteEvents write) {
        writes.add(CollectionConverters.asJava(write.batch()));
      }
      return ProcessingSuccess$.MODULE$;
    });
    recovered = room.expectMessageClass(JournalLink.Recovered.class);
    writes.clear();
  }

  History.Entry entry(long seq) {
    return new History.Entry(seq, clock.millis(), "{\"seq\":" + seq + "}", "id-" + seq);
  }

  List<RoomJournal.Event> appended(long from, long to) {
    return LongStream.rangeClosed(from, to).<RoomJournal.Event>mapToObj(seq -> new RoomJournal.Appended(entry(seq))).toList();
  }

  JournalLink.Recovered restarted() {
    journal.restart();
    return room.expectMessageClass(JournalLink.Recovered.class);
  }

  @Test
  void aNewStreamStoresItsEpochBeforeItIsRecoveredAndKeepsItThroughRestarts() {
    assertEquals(0, recovered.seq());
    assertEquals(List.of(new RoomJournal.EpochStarted(recovered.epoch())), journal.persistenceTestKit().persistedInStorage(persistenceId));
    assertEquals(recovered.epoch(), restarted().epoch());
    room.expectNoMessage(Duration.ofMillis(100));
  }

  @Test
  void aBatchIsOneWriteAndOneAnswer() {
    List<RoomJournal.Event> batch = new ArrayList<>(appended(1, 3));
    batch.add(new RoomJournal.UserRemoved("bob", clock.millis() / 1000));
    var result = journal.runCommand(new RoomJournal.Write(batch));
    assertEquals(batch, result.events());
    assertEquals(List.of(List.copyOf(batch)), writes, "one write for the whole batch");
    room.expectMessage(JournalLink.Wrote.INSTANCE);
    room.expectNoMessage(Duration.ofMillis(100));
    assertEquals(3, result.state().seq);

    JournalLink.Recovered again = restarted();
    assertEquals(3, again.seq());
    assertEquals(List.of("id-1", "id-2", "id-3"), again.history().stream().map(History.Entry::id).toList());
    assertEquals(Map.of("bob", clock.millis() / 1000), again.removedAt());
  }

  @Test
  void everyFewEventsItSnapshotsAndARecoveryStartsFromTheSnapshot() {
    for (long seq = 1; seq <= 17; seq++) {
      journal.runCommand(new RoomJournal.Write(appended(seq, seq)));
      room.expectMessage(JournalLink.Wrote.INSTANCE);
    }
    var snapshots = journal.snapshotTestKit().orElseThrow().persistedInStorage(persistenceId);
    assertFalse(snapshots.isEmpty(), "a snapshot every " + SNAPSHOT_EVERY + " events");
    RoomJournal.Saved newest = (RoomJournal.Saved) snapshots.get(snapshots.size() - 1).second();
    assertEquals(recovered.epoch(), newest.epoch());
    assertTrue(newest.seq() >= SNAPSHOT_EVERY, "snapshot at " + newest.seq());
    // two snapshots are kept, and the events before the older of them go
    assertTrue(journal.persistenceTestKit().persistedInStorage(persistenceId).size() <= 18 - SNAPSHOT_EVERY,
        "the events before a kept snapshot are deleted");

    JournalLink.Recovered again = restarted();
    assertEquals(17, again.seq());
    assertEquals(recovered.epoch(), again.epoch());
    assertEquals(LongStream.rangeClosed(1, 17).boxed().toList(), again.history().stream().map(History.Entry::seq).toList());
  }

  @Test
  void aRecoveryLeavesOutTheHistoryAndRemovalsThatHaveExpired() {
    journal.runCommand(new RoomJournal.Write(List.of(new RoomJournal.Appended(entry(1)),
        new RoomJournal.UserRemoved("bob", clock.millis() / 1000))));
    room.expectMessage(JournalLink.Wrote.INSTANCE);
    Duration longest = settings.durable().historyTtl().compareTo(settings.removalRetention()) > 0
        ? settings.durable().historyTtl() : settings.removalRetention();
    clock.advance(longest.plusSeconds(1));

    JournalLink.Recovered again = restarted();
    assertEquals(1, again.seq(), "the numbering goes on");
    assertEquals(List.of(), again.history());
    assertEquals(Map.of(), again.removedAt());
  }
}

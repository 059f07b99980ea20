package lms.realtime.fanout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.stream.LongStream;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.testkit.ProbeSocket;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 22, item 10: while a hub recovers events a room's broadcasts skipped, what the room said
 * after them (acks, replies, presence diffs, joins, leaves) waits and goes in its place among the
 * recovered events. The hub alone, message by message: a probe stands in for the room's actor,
 * in-memory outboxes for the sockets. Events 2 are always the ones lost on the way.
 */
class HubRecoveryTest {
  static final ActorTestKit TESTKIT = ActorTestKit.create();
  static final String ROOM = "course:1";
  static final String EPOCH = "e1";

  final Metrics metrics = new Metrics(() -> 0);
  final LocalSockets sockets = new LocalSockets();
  final TestProbe<RoomInbox> room = TESTKIT.createTestProbe(RoomInbox.class);
  /** A socket of another room, which nothing holds: see {@link #handled}. */
  final ProbeSocket bystander = socket("bystander");

  @AfterAll
  static void stop() {
    TESTKIT.shutdownTestKit();
  }

  /** A socket of this node: its actor (a probe), its outbox, and what its room knows of it. */
  ProbeSocket socket(String user) {
    return ProbeSocket.open(TESTKIT, sockets, metrics, user);
  }

  /** A hub whose recoveries hold at most {@code heldMax} messages (and are not retried during a test). */
  ActorRef<Hub.Command> hub(int heldMax) {
    return TESTKIT.spawn(Hub.create(sockets, metrics, EntityTypeKey.create(RoomInbox.class, "Room"), 100,
        Duration.ofMinutes(1), heldMax));
  }

  /** A hub whose {@code members} have had event 1, and that has just asked the room for event 2. */
  ActorRef<Hub.Command> recovering(int heldMax, ProbeSocket... members) throws InterruptedException {
    ActorRef<Hub.Command> hub = hub(heldMax);
    for (ProbeSocket member : members) {
      hub.tell(join(member, 0));
    }
    hub.tell(event(1));
    for (ProbeSocket member : members) {
      member.outbox().expect(joined(member, 0), event(1).frame());
    }
    hub.tell(event(3));
    RoomInbox.Recover recover = room.expectMessageClass(RoomInbox.Recover.class);
    assertEquals(EPOCH, recover.epoch());
    assertEquals(1, recover.seq());
    return hub;
  }

  Hub.AddMember join(ProbeSocket s, long seq) {
    return new Hub.AddMember(ROOM, room.ref(), s.info(), joined(s, seq), EPOCH, seq);
  }

  static String joined(ProbeSocket s, long seq) {
    return "joined " + s.info().userId() + " at " + seq;
  }

  static Hub.Broadcast event(long seq) {
    return new Hub.Broadcast(ROOM, "event " + seq, false, 0, EPOCH, seq);
  }

  static List<String> events(long from, long to) {
    return LongStream.rangeClosed(from, to).mapToObj(seq -> event(seq).frame()).toList();
  }

  static Hub.Recovered answer(long from, long to) {
    return new Hub.Recovered(ROOM, events(from, to), EPOCH, to);
  }

  /** The hub has handled everything sent to it before: a frame for another room's socket went through. */
  void handled(ActorRef<Hub.Command> hub) throws InterruptedException {
    hub.tell(new Hub.ToSocket("course:other", bystander.ref(), "marker"));
    bystander.outbox().expect("marker");
  }

  @Test
  void anAckAndAPresenceDiffWaitBehindTheRecoveredEvents() throws Exception {
    ProbeSocket a = socket("a");
    ActorRef<Hub.Command> hub = recovering(100, a);
    hub.tell(new Hub.ToSocket(ROOM, a.ref(), "ack of 3"));
    hub.tell(new Hub.Broadcast(ROOM, "presence diff", true, 0, EPOCH, 0));
    handled(hub);
    a.outbox().expectNothingMore();
    hub.tell(answer(2, 3));
    a.outbox().expect("event 2", "event 3", "ack of 3", "presence diff");
    hub.tell(event(4));
    a.outbox().expect("event 4");
  }

  @Test
  void aSocketThatJoinsDuringTheRecoveryGetsEachEventAfterItsPositionOnce() throws Exception {
    ProbeSocket a = socket("a");
    ProbeSocket b = socket("b");
    ActorRef<Hub.Command> hub = recovering(100, a);
    hub.tell(event(4));
    hub.tell(join(b, 4)); // its joined names seq 4, with what it missed up to there
    hub.tell(event(5));
    handled(hub);
    b.outbox().expectNothingMore();
    hub.tell(answer(2, 5));
    a.outbox().expect(events(2, 5).toArray(new String[0]));
    b.outbox().expect(joined(b, 4), "event 5");
    hub.tell(event(6));
    a.outbox().expect("event 6");
    b.outbox().expect("event 6");
    handled(hub);
    a.outbox().expectNothingMore();
    b.outbox().expectNothingMore();
  }

  @Test
  void aLeftGoesAfterTheEventsItsSocketWasStillAMemberFor() throws Exception {
    ProbeSocket a = socket("a");
    ProbeSocket c = socket("c");
    ProbeSocket d = socket("d");
    ActorRef<Hub.Command> hub = recovering(100, a, c);
    hub.tell(join(d, 3)); // joined after event 3, left after event 4
    hub.tell(event(4));
    hub.tell(new Hub.RemoveMember(ROOM, c.ref(), "left c"));
    hub.tell(new Hub.RemoveMember(ROOM, d.ref(), "left d"));
    hub.tell(event(5));
    handled(hub);
    c.outbox().expectNothingMore();
    hub.tell(answer(2, 5));
    a.outbox().expect(events(2, 5).toArray(new String[0]));
    c.outbox().expect("event 2", "event 3", "event 4", "left c");
    d.outbox().expect(joined(d, 3), "event 4", "left d");
    hub.tell(event(6));
    a.outbox().expect("event 6");
    handled(hub);
    c.outbox().expectNothingMore();
    d.outbox().expectNothingMore();
  }

  @Test
  void whenTheRoomCannotCoverTheGapTheHeldFramesGoThenTheMembersReload() throws Exception {
    ProbeSocket a = socket("a");
    ProbeSocket b = socket("b");
    ActorRef<Hub.Command> hub = recovering(100, a);
    hub.tell(new Hub.ToSocket(ROOM, a.ref(), "ack of 3"));
    hub.tell(join(b, 3)); // joined at the room's position: nothing to reload
    String reset = ServerFrames.joined(null, ROOM, EPOCH, 3, false, null);
    hub.tell(new Hub.Recovered(ROOM, List.of(reset), EPOCH, 3));
    a.outbox().expect("ack of 3", reset);
    b.outbox().expect(joined(b, 3));
    hub.tell(event(4));
    a.outbox().expect("event 4");
    b.outbox().expect("event 4");
  }

  @Test
  void pastTheBoundTheRecoveryIsGivenUpAndTheMembersReload() throws Exception {
    ProbeSocket a = socket("a");
    ActorRef<Hub.Command> hub = recovering(3, a); // holds event 3
    hub.tell(new Hub.ToSocket(ROOM, a.ref(), "ack of 3"));
    hub.tell(event(4));
    handled(hub);
    a.outbox().expectNothingMore();
    hub.tell(new Hub.ToSocket(ROOM, a.ref(), "ack of 4")); // a fourth: too many
    String reset = ServerFrames.joined(null, ROOM, EPOCH, 4, false, null);
    a.outbox().expect("ack of 3", reset, "ack of 4");
    assertTrue(reset.contains("\"recovered\":false"), reset);
    hub.tell(event(5)); // the stream goes on from the position the members reloaded at
    a.outbox().expect("event 5");
    hub.tell(answer(2, 4)); // the room's answer, too late: not one any more
    handled(hub);
    a.outbox().expectNothingMore();
  }
}

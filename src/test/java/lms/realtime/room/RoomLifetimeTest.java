package lms.realtime.room;

import static lms.realtime.room.RoomProbes.join;
import static lms.realtime.room.RoomProbes.next;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.Map;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.RoomInbox;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * When a room goes, at the actor level: it asks its shard to passivate (a probe here) only when
 * nothing is left to keep, and when the shard stops it with members it hands its state to its next
 * incarnation. The empty-room grace is short here; the history's TTL passes on the test clock.
 */
class RoomLifetimeTest {
  static final Duration GRACE = Duration.ofMillis(200);
  static RoomProbes probes;

  @BeforeAll
  static void start() {
    probes = new RoomProbes("room-lifetime", Map.of("lms.internals.empty-room-grace", GRACE.toMillis() + "ms"));
  }

  @AfterAll
  static void stop() {
    probes.close();
  }

  /** The shard's stop, as it sends it after a passivation, a hand-off or at shutdown; the room is gone after it. */
  void stopped(ActorRef<RoomInbox> room) {
    TestProbe<Object> watcher = probes.kit.createTestProbe();
    room.tell(RoomActor.STOP);
    watcher.expectTerminated(room);
  }

  @Test
  void aRoomLeftWithNothingToKeepPassivatesAfterTheEmptyGrace() {
    ActorRef<RoomInbox> room = probes.room("live:stray"); // started by a stray leave, say
    assertEquals(new ClusterSharding.Passivate<>(room), probes.shard.receiveMessage(GRACE.multipliedBy(10)));
    stopped(room);
  }

  @Test
  void aMemoryRoomWithHistoryStaysUntilItsHistoryExpires() {
    ActorRef<RoomInbox> room = probes.room("live:history");
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> a = probes.socket();
    room.tell(join(a, hub, "ada", "j1", probes.nowSeconds()));
    next(hub, Hub.AddMember.class);
    room.tell(new Room.SocketPublish("note", "{}", "ada", a.ref(), hub.ref(), "p1"));
    hub.expectMessageClass(Hub.Broadcast.class);
    hub.expectMessageClass(Hub.ToSocket.class);
    room.tell(new Room.Leave(a.ref(), hub.ref(), "l1"));
    next(hub, Hub.RemoveMember.class);

    // empty, but a client may still come back with since= and recover event 1: the room stays
    probes.shard.expectNoMessage(GRACE.multipliedBy(3));
    room.tell(RoomLifetime.IdleCheck.INSTANCE); // an idle check while the history lives changes nothing
    probes.shard.expectNoMessage(GRACE);
    probes.clock.advance(probes.settings.history().ttl().plusSeconds(1));
    room.tell(RoomLifetime.IdleCheck.INSTANCE); // the timer set for the history's expiry, now
    assertEquals(new ClusterSharding.Passivate<>(room), probes.shard.receiveMessage());
    stopped(room);
  }

  @Test
  void stoppedWithMembersItHandsItsPositionAndHubsToItsNextIncarnation() {
    String name = "live:handoff";
    ActorRef<RoomInbox> room = probes.room(name);
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> a = probes.socket();
    room.tell(join(a, hub, "ada", "j1", probes.nowSeconds()));
    String epoch = next(hub, Hub.AddMember.class).epoch();
    room.tell(new Room.SocketPublish("note", "{}", "ada", a.ref(), hub.ref(), "p1"));
    hub.expectMessageClass(Hub.Broadcast.class);
    hub.expectMessageClass(Hub.ToSocket.class);
    stopped(room); // a rolling restart hands it on

    ActorRef<RoomInbox> next = probes.room(name);
    assertEquals(new Hub.RoomMoved(name, next), hub.expectMessageClass(Hub.RoomMoved.class));
    TestProbe<MemberInbox> b = probes.socket();
    next.tell(join(b, hub, "bob", "j2", probes.nowSeconds()));
    Hub.AddMember joined = next(hub, Hub.AddMember.class);
    assertEquals(epoch, joined.epoch(), "the same stream goes on");
    assertEquals(1, joined.seq());
  }
}

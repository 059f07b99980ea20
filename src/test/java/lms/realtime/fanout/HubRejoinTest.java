package lms.realtime.fanout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.testkit.OneNodeCluster;
import lms.realtime.testkit.ProbeSocket;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A hub keeps its members in their room when the room's actor moves or dies: it re-joins them to the
 * room's next incarnation (through Cluster Sharding, in batches, from the last position it
 * delivered) and hands them the catch-up the room answers. The hub alone, message by message, in a
 * cluster of one: the room's entity type is a test one whose every incarnation is a probe.
 */
class HubRejoinTest {
  static final String EPOCH = "e1";
  static final EntityTypeKey<RoomInbox> ROOMS = EntityTypeKey.create(RoomInbox.class, "HubRejoinTestRoom");
  static final Duration RETRY = Duration.ofMillis(300);

  static ActorTestKit kit;
  /** Whatever the room's next incarnation is sent through sharding. */
  static TestProbe<RoomInbox> nextIncarnation;

  final Metrics metrics = new Metrics(() -> 0);
  final LocalSockets sockets = new LocalSockets();
  final TestProbe<RoomInbox> room = kit.createTestProbe(RoomInbox.class);
  ActorRef<Hub.Command> hub;

  @BeforeAll
  static void cluster() {
    kit = OneNodeCluster.start("hub-rejoin", Map.of());
    nextIncarnation = kit.createTestProbe(RoomInbox.class);
    ClusterSharding.get(kit.system()).init(Entity.of(ROOMS, ctx -> forwardingTo(nextIncarnation.ref())));
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  @AfterEach
  void stopHub() {
    if (hub != null) {
      kit.stop(hub); // its retry timers with it
    }
  }

  static Behavior<RoomInbox> forwardingTo(ActorRef<RoomInbox> probe) {
    return Behaviors.receiveMessage(m -> {
      probe.tell(m);
      return Behaviors.same();
    });
  }

  ActorRef<Hub.Command> hub(int rejoinBatch) {
    hub = kit.spawn(Hub.create(sockets, metrics, ROOMS, rejoinBatch, RETRY, 100));
    return hub;
  }

  ProbeSocket socket(String user) {
    return ProbeSocket.open(kit, sockets, metrics, user);
  }

  static Hub.Broadcast event(String room, long seq) {
    return new Hub.Broadcast(room, "event " + seq, false, 0, EPOCH, seq);
  }

  /** {@code members} joined {@code room} (its actor {@code roomActor}) at 0 and got events 1 and 2. */
  void joinedAndAtTwo(String room, ActorRef<RoomInbox> roomActor, ProbeSocket... members) throws InterruptedException {
    for (ProbeSocket m : members) {
      hub.tell(new Hub.AddMember(room, roomActor, m.info(), "joined " + m.info().userId(), EPOCH, 0));
    }
    hub.tell(event(room, 1));
    hub.tell(event(room, 2));
    for (ProbeSocket m : members) {
      m.outbox().expect("joined " + m.info().userId(), "event 1", "event 2");
    }
  }

  /** The re-join messages of one room up to its last batch. */
  static List<RoomInbox.Rejoin> rejoinBatches() {
    List<RoomInbox.Rejoin> batches = new java.util.ArrayList<>();
    RoomInbox.Rejoin batch;
    do {
      batch = nextIncarnation.expectMessageClass(RoomInbox.Rejoin.class);
      batches.add(batch);
    } while (!batch.last());
    return batches;
  }

  @Test
  void aRoomThatMovesGetsItsMembersBackInBatchesFromTheLastPositionDelivered() throws Exception {
    String name = "course:moved";
    hub(2);
    ProbeSocket[] members = Stream.of("a", "b", "c", "d", "e").map(this::socket).toArray(ProbeSocket[]::new);
    joinedAndAtTwo(name, room.ref(), members);
    TestProbe<RoomInbox> moved = kit.createTestProbe(RoomInbox.class);

    hub.tell(new Hub.RoomMoved(name, moved.ref()));
    List<RoomInbox.Rejoin> batches = rejoinBatches();
    assertEquals(List.of(2, 2, 1), batches.stream().map(b -> b.members().size()).toList());
    Set<MemberInfo> rejoined = new HashSet<>();
    for (RoomInbox.Rejoin b : batches) {
      assertEquals(EPOCH, b.epoch());
      assertEquals(2, b.seq());
      assertEquals(hub, b.hub());
      rejoined.addAll(b.members());
    }
    assertEquals(Stream.of(members).map(ProbeSocket::info).collect(java.util.stream.Collectors.toSet()), rejoined);

    hub.tell(new Hub.Rejoined(name, moved.ref(), List.of("event 3"), EPOCH, 3));
    hub.tell(event(name, 4));
    for (ProbeSocket m : members) {
      m.outbox().expect("event 3", "event 4");
    }
    hub.tell(new Hub.RoomMoved(name, moved.ref())); // the incarnation it follows already: nothing to do
    hub.tell(new Hub.ToSocket(name, members[0].ref(), "marker"));
    members[0].outbox().expect("marker");
    nextIncarnation.expectNoMessage(RETRY.multipliedBy(2));
  }

  @Test
  void whenTheRoomsActorStopsItsMembersRejoinTheNextIncarnationUntilItAnswers() throws Exception {
    String name = "course:crashed";
    hub(100);
    ProbeSocket a = socket("a");
    ActorRef<RoomInbox> roomActor = kit.spawn(forwardingTo(room.ref()));
    joinedAndAtTwo(name, roomActor, a);

    kit.stop(roomActor);
    RoomInbox.Rejoin first = nextIncarnation.expectMessageClass(RoomInbox.Rejoin.class);
    assertEquals(List.of(a.info()), first.members());
    assertTrue(first.last());
    assertEquals(2, first.seq());
    // no answer (the message went to a node that died before sharding moved the room): again
    assertEquals(first, nextIncarnation.expectMessageClass(RoomInbox.Rejoin.class, RETRY.multipliedBy(5)));

    TestProbe<RoomInbox> next = kit.createTestProbe(RoomInbox.class);
    hub.tell(new Hub.Rejoined(name, next.ref(), List.of("event 3", "event 4"), EPOCH, 4));
    a.outbox().expect("event 3", "event 4");
    hub.tell(new Hub.Rejoined(name, next.ref(), List.of("event 3", "event 4"), EPOCH, 4)); // a retry's answer: none
    hub.tell(event(name, 5));
    a.outbox().expect("event 5");
    a.outbox().expectNothingMore();
    nextIncarnation.expectNoMessage(RETRY.multipliedBy(2));
  }

  @Test
  void aSocketThatJoinedTheNextIncarnationMeanwhileGetsNoCatchUp() throws Exception {
    String name = "course:meanwhile";
    hub(100);
    ProbeSocket a = socket("a");
    ProbeSocket late = socket("late");
    joinedAndAtTwo(name, room.ref(), a);
    TestProbe<RoomInbox> moved = kit.createTestProbe(RoomInbox.class);
    hub.tell(new Hub.RoomMoved(name, moved.ref()));
    rejoinBatches();

    // the new incarnation took a join at 3: its joined frame carries what it missed
    hub.tell(new Hub.AddMember(name, moved.ref(), late.info(), "joined late at 3", EPOCH, 3));
    late.outbox().expect("joined late at 3");
    hub.tell(new Hub.Rejoined(name, moved.ref(), List.of("event 3"), EPOCH, 3));
    hub.tell(event(name, 4));
    a.outbox().expect("event 3", "event 4");
    late.outbox().expect("event 4");
  }

  @Test
  void aMoveDuringAGapRecoveryReleasesWhatWasHeldThenRejoinsFromThere() throws Exception {
    String name = "course:moved-while-recovering";
    hub(100);
    ProbeSocket a = socket("a");
    joinedAndAtTwo(name, room.ref(), a);
    hub.tell(event(name, 4)); // 3 was lost on the way: the hub asks the room
    room.expectMessageClass(RoomInbox.Recover.class);
    hub.tell(new Hub.ToSocket(name, a.ref(), "ack of 4"));

    TestProbe<RoomInbox> moved = kit.createTestProbe(RoomInbox.class);
    hub.tell(new Hub.RoomMoved(name, moved.ref())); // the answer would come from the incarnation that is gone
    String reload = ServerFrames.joined(null, name, EPOCH, 4, false, null);
    a.outbox().expect("ack of 4", reload);
    RoomInbox.Rejoin rejoin = nextIncarnation.expectMessageClass(RoomInbox.Rejoin.class);
    assertEquals(4, rejoin.seq(), "the re-join starts where the members reloaded");
    hub.tell(new Hub.Rejoined(name, moved.ref(), List.of(), EPOCH, 4));
    hub.tell(event(name, 5));
    a.outbox().expect("event 5");
  }

  @Test
  void aSocketRemovedFromOneRoomGetsItsLastFrameAndNoMoreOfThatRoom() throws Exception {
    hub(100);
    ProbeSocket a = socket("a");
    ProbeSocket b = socket("b");
    joinedAndAtTwo("course:x", room.ref(), a, b);
    joinedAndAtTwo("course:y", kit.createTestProbe(RoomInbox.class).ref(), a, b); // each room is its own actor

    hub.tell(new Hub.RemoveMember("course:y", b.ref(), "left y"));
    hub.tell(event("course:y", 3));
    hub.tell(event("course:x", 3));
    a.outbox().expect("event 3", "event 3");
    b.outbox().expect("left y", "event 3");
    b.outbox().expectNothingMore();
  }
}

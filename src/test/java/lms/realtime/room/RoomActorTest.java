package lms.realtime.room;

import static lms.realtime.room.RoomProbes.join;
import static lms.realtime.room.RoomProbes.next;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.ServerFrames;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A room's actor message by message (a memory room, {@code live:}): what it tells its members'
 * hubs, in what order, for joins, leaves, publishes, removals and the requests it holds while its
 * members' hubs bring them back. Its clock is a test clock: a removal's retention and the re-join
 * grace pass when the test says.
 */
class RoomActorTest {
  static RoomProbes probes;

  @BeforeAll
  static void start() {
    probes = new RoomProbes("room-actor", Map.of());
  }

  @AfterAll
  static void stop() {
    probes.close();
  }

  /** A room whose re-join grace is over: it answers unknown sockets at once. */
  ActorRef<RoomInbox> servingRoom(String name) {
    ActorRef<RoomInbox> room = probes.room(name);
    probes.clock.advance(probes.settings.internals().rejoinGrace());
    return room;
  }

  @Test
  void anEventGoesToEveryHubOfTheRoomAndItsAckAfterItToThePublishersHub() {
    ActorRef<RoomInbox> room = servingRoom("live:ack");
    TestProbe<Hub.Command> hubA = probes.hub();
    TestProbe<Hub.Command> hubB = probes.hub();
    TestProbe<MemberInbox> a = probes.socket();
    TestProbe<MemberInbox> b = probes.socket();
    room.tell(join(a, hubA, "ada", "j1", probes.nowSeconds()));
    Hub.AddMember joined = next(hubA, Hub.AddMember.class);
    assertEquals(0, joined.seq());
    assertTrue(joined.joinedFrame().contains("\"id\":\"j1\""), joined.joinedFrame());
    room.tell(join(b, hubB, "bob", "j2", probes.nowSeconds()));
    next(hubB, Hub.AddMember.class);
    hubA.receiveMessage(); // bob's arrival, for ada who sees presence

    room.tell(new Room.SocketPublish("note", "{\"n\":1}", "ada", a.ref(), hubA.ref(), "p1"));
    Hub.Broadcast event = hubA.expectMessageClass(Hub.Broadcast.class);
    assertEquals(1, event.seq());
    assertEquals(joined.epoch(), event.epoch());
    assertFalse(event.presenceWatchersOnly());
    assertTrue(event.frame().contains("\"event\":\"note\""), event.frame());
    assertEquals(new Hub.ToSocket("live:ack", a.ref(), ServerFrames.ack("p1", 1)), hubA.receiveMessage());
    assertEquals(event, hubB.receiveMessage());
  }

  @Test
  void eachWayOfLeavingIsItsOwnMessageWithItsOwnLastFrame() {
    ActorRef<RoomInbox> room = servingRoom("live:leave");
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> asked = probes.socket();
    TestProbe<MemberInbox> closing = probes.socket();
    TestProbe<MemberInbox> revoked = probes.socket();
    for (TestProbe<MemberInbox> s : List.of(asked, closing, revoked)) {
      room.tell(join(s, hub, "ada", "j", probes.nowSeconds()));
      next(hub, Hub.AddMember.class);
    }
    room.tell(new Room.Leave(asked.ref(), hub.ref(), "l1"));
    assertEquals(new Hub.RemoveMember("live:leave", asked.ref(), ServerFrames.left("l1", "live:leave", null)), next(hub, Hub.RemoveMember.class));
    room.tell(new Room.SocketClosing(closing.ref(), hub.ref()));
    assertEquals(new Hub.RemoveMember("live:leave", closing.ref(), null), next(hub, Hub.RemoveMember.class));
    room.tell(new Room.AccessRevoked(revoked.ref(), hub.ref()));
    assertEquals(new Hub.RemoveMember("live:leave", revoked.ref(), ServerFrames.left(null, "live:leave", "revoked")),
        next(hub, Hub.RemoveMember.class));
  }

  @Test
  void aRemovedUsersSocketsAreLetGoAndTheirTokensRefusedUntilTheRemovalExpires() {
    ActorRef<RoomInbox> room = servingRoom("live:removal");
    TestProbe<Hub.Command> hubA = probes.hub();
    TestProbe<Hub.Command> hubB = probes.hub();
    long issued = probes.nowSeconds() - 10;
    TestProbe<MemberInbox> bobOnA = probes.socket();
    TestProbe<MemberInbox> bobOnB = probes.socket();
    room.tell(join(bobOnA, hubA, "bob", "j1", issued));
    next(hubA, Hub.AddMember.class);
    room.tell(join(bobOnB, hubB, "bob", "j2", issued));
    next(hubB, Hub.AddMember.class);

    TestProbe<Room.Removal> backend = probes.kit.createTestProbe(Room.Removal.class);
    room.tell(new Room.RemoveUser("bob", backend.ref()));
    String left = ServerFrames.left(null, "live:removal", "removed");
    assertEquals(new Hub.LetGo("live:removal", bobOnA.ref(), left), next(hubA, Hub.LetGo.class));
    assertEquals(new Hub.LetGo("live:removal", bobOnB.ref(), left), next(hubB, Hub.LetGo.class));
    assertEquals(new Room.Removed(2), backend.receiveMessage());

    // a token issued in or before the removal's second is refused: the socket is let go with the error
    TestProbe<MemberInbox> again = probes.socket();
    room.tell(join(again, hubA, "bob", "j3", probes.nowSeconds()));
    Hub.LetGo refused = next(hubA, Hub.LetGo.class);
    assertEquals(again.ref(), refused.socket());
    assertTrue(refused.lastFrame().contains("\"code\":\"" + ErrorCodes.FORBIDDEN + "\""), refused.lastFrame());
    // a newer token is taken
    room.tell(join(again, hubA, "bob", "j4", probes.nowSeconds() + 1));
    assertEquals(again.ref(), next(hubA, Hub.AddMember.class).member().socket());
    // and once the removal is past its retention, so is the old one
    probes.clock.advance(probes.settings.removalRetention().plusSeconds(2));
    TestProbe<MemberInbox> old = probes.socket();
    room.tell(join(old, hubB, "bob", "j5", issued));
    assertEquals(old.ref(), next(hubB, Hub.AddMember.class).member().socket());
  }

  @Test
  void duringTheGraceRequestsOfSocketsItDoesNotKnowWaitForTheirRejoin() {
    ActorRef<RoomInbox> room = probes.room("live:held");
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> x = probes.socket();
    room.tell(new Room.SocketPublish("note", "{}", "ada", x.ref(), hub.ref(), "p1"));
    room.tell(new Room.QueryPresence(x.ref(), hub.ref(), "q1", "ada", probes.nowSeconds(), false));
    hub.expectNoMessage(Duration.ofMillis(200));

    // the hub brings x back (the room moved): x's publish and query are served, in order, after it
    room.tell(new RoomInbox.Rejoin(hub.ref(), List.of(new MemberInfo(x.ref(), "ada", "Ada", "instructor", true)), "gone", 0, true));
    Hub.Rejoined rejoined = hub.expectMessageClass(Hub.Rejoined.class);
    assertEquals(room, rejoined.roomActor());
    Hub.Broadcast event = hub.expectMessageClass(Hub.Broadcast.class);
    assertEquals(1, event.seq());
    assertEquals(new Hub.ToSocket("live:held", x.ref(), ServerFrames.ack("p1", 1)), hub.receiveMessage());
    Hub.ToSocket presence = hub.expectMessageClass(Hub.ToSocket.class);
    assertTrue(presence.frame().contains("\"type\":\"presence\"") && presence.frame().contains("\"id\":\"q1\""), presence.frame());
  }

  @Test
  void pastTheGraceAHeldRequestIsAnsweredAsItWouldHaveBeen() {
    ActorRef<RoomInbox> room = probes.room("live:grace");
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> stranger = probes.socket();
    room.tell(new Room.SocketPublish("note", "{}", "eve", stranger.ref(), hub.ref(), "p1"));
    hub.expectNoMessage(Duration.ofMillis(200));
    probes.clock.advance(probes.settings.internals().rejoinGrace());
    room.tell(HeldForMembers.RELEASE); // the grace's timer, now rather than 1.5 s from the start
    Hub.ToSocket refused = hub.expectMessageClass(Hub.ToSocket.class);
    assertTrue(refused.frame().contains("\"code\":\"" + ErrorCodes.NOT_JOINED + "\"") && refused.frame().contains("\"id\":\"p1\""),
        refused.frame());
    room.tell(new Room.SocketPublish("note", "{}", "eve", stranger.ref(), hub.ref(), "p2"));
    assertTrue(hub.expectMessageClass(Hub.ToSocket.class).frame().contains("\"id\":\"p2\""), "answered at once now");
  }

  /** The new messages and replies cross nodes (CBOR): a reply of RemoveUser is either record. */
  @Test
  void theNamedMessagesAndTypedRepliesSerialize() {
    TestProbe<Hub.Command> hub = probes.hub();
    TestProbe<MemberInbox> socket = probes.socket();
    var serialization = probes.kit.serializationTestKit();
    for (Object message : List.of(new Room.Removed(2), new Room.Unavailable("the journal is down"),
        new Room.Leave(socket.ref(), hub.ref(), "l1"), new Room.SocketClosing(socket.ref(), hub.ref()),
        new Room.AccessRevoked(socket.ref(), hub.ref()), new Hub.LetGo("live:x", socket.ref(), "{}"),
        new Hub.RemoveMember("live:x", socket.ref(), null))) {
      assertEquals(message, serialization.verifySerialization(message, true));
    }
  }
}

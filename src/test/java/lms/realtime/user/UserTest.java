package lms.realtime.user;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A user entity alone, message by message: probes stand in for the user's sockets (on any node: a
 * socket is only an actor reference to it), for the hubs, for its own {@code user:} room and for
 * its shard. The per-user limit is the entity's count, whatever node a socket is on.
 */
class UserTest {
  static final ActorTestKit KIT = ActorTestKit.create();
  static final Duration QUIET = Duration.ofMillis(300);

  final Metrics metrics = new Metrics(() -> 0);
  final TestProbe<ClusterSharding.ShardCommand> shard = KIT.createTestProbe(ClusterSharding.ShardCommand.class);
  final TestProbe<Hub.Command> hubOfNodeA = KIT.createTestProbe(Hub.Command.class);
  final TestProbe<Hub.Command> hubOfNodeB = KIT.createTestProbe(Hub.Command.class);

  @AfterAll
  static void stop() {
    KIT.shutdownTestKit();
  }

  ActorRef<User.Command> user(String id) {
    return KIT.spawn(User.create(id, shard.ref(), metrics));
  }

  static TestProbe<MemberInbox> socket() {
    return KIT.createTestProbe(MemberInbox.class);
  }

  static MemberInfo info(TestProbe<MemberInbox> socket) {
    return new MemberInfo(socket.ref(), "ada", "Ada", "student", false);
  }

  /** Registers a socket and returns whether it was admitted. */
  boolean register(ActorRef<User.Command> user, TestProbe<MemberInbox> socket, ActorRef<Hub.Command> hub, int limit) {
    user.tell(new User.Register(info(socket), limit, hub, 100L));
    User.Admission admission = socket.expectMessageClass(User.Admission.class);
    assertEquals(user, admission.entity());
    return admission.admitted();
  }

  /** A socket registered with {@code user} through {@code hub}'s node, admitted (the limit is 5). */
  TestProbe<MemberInbox> registered(ActorRef<User.Command> user, TestProbe<Hub.Command> hub) {
    TestProbe<MemberInbox> socket = socket();
    assertEquals(true, register(user, socket, hub.ref(), 5));
    return socket;
  }

  @Test
  void thePerUserLimitCountsTheSocketsOfEveryNodeAndASocketThatGoesFreesItsSlot() {
    ActorRef<User.Command> user = user("ada");
    TestProbe<MemberInbox> onA = socket();
    TestProbe<MemberInbox> onB = socket();
    TestProbe<MemberInbox> third = socket();
    assertEquals(true, register(user, onA, hubOfNodeA.ref(), 2));
    assertEquals(true, register(user, onB, hubOfNodeB.ref(), 2));
    assertEquals(false, register(user, third, hubOfNodeA.ref(), 2), "a third socket is over the limit, whatever its node");
    assertEquals(true, register(user, onA, hubOfNodeA.ref(), 2), "a socket that registers again keeps its slot");

    onB.stop(); // its node died, or it closed without a word: the entity's watch frees the slot
    third.awaitAssert(() -> {
      assertEquals(true, register(user, third, hubOfNodeA.ref(), 2));
      return null;
    });
    TestProbe<MemberInbox> fourth = socket();
    assertEquals(false, register(user, fourth, hubOfNodeB.ref(), 2));
    user.tell(new User.Unregister(onA.ref()));
    assertEquals(true, register(user, fourth, hubOfNodeB.ref(), 2));
  }

  @Test
  void aNotificationReachesEveryDeviceAndIsAnsweredWithTheirCount() {
    ActorRef<User.Command> user = user("ada");
    TestProbe<MemberInbox> phone = registered(user, hubOfNodeA);
    TestProbe<MemberInbox> laptop = registered(user, hubOfNodeB);
    TestProbe<User.Delivered> backend = KIT.createTestProbe(User.Delivered.class);

    user.tell(new User.Notify("{\"type\":\"notification\"}", backend.ref()));
    phone.expectMessage(new MemberInbox.Deliver("{\"type\":\"notification\"}"));
    laptop.expectMessage(new MemberInbox.Deliver("{\"type\":\"notification\"}"));
    assertEquals(new User.Delivered(2), backend.receiveMessage());

    TestProbe<User.UserPresence> presence = KIT.createTestProbe(User.UserPresence.class);
    user.tell(new User.GetPresence(presence.ref()));
    assertEquals(new User.UserPresence("ada", true, 2), presence.receiveMessage());
  }

  @Test
  void theOwnRoomIsHandedEverySocketThatHasNotLeftItAndEachNewOne() {
    ActorRef<User.Command> user = user("ada");
    TestProbe<MemberInbox> first = registered(user, hubOfNodeA);
    TestProbe<MemberInbox> left = registered(user, hubOfNodeB);
    user.tell(new User.OwnRoom(left.ref(), false)); // it left user:ada itself

    TestProbe<User.OwnSockets> room = KIT.createTestProbe(User.OwnSockets.class);
    user.tell(new User.AttachRoom(room.ref()));
    assertEquals(new User.OwnSockets(user, List.of(new User.OwnRoomSocket(info(first), hubOfNodeA.ref(), 100L))),
        room.receiveMessage());

    TestProbe<MemberInbox> next = registered(user, hubOfNodeB);
    assertEquals(new User.OwnSockets(user, List.of(new User.OwnRoomSocket(info(next), hubOfNodeB.ref(), 100L))),
        room.receiveMessage());
  }

  @Test
  void itPassivatesOnlyWithNoSocketAndNoOwnRoomLeft() {
    ActorRef<User.Command> idle = user("nobody");
    TestProbe<User.UserPresence> presence = KIT.createTestProbe(User.UserPresence.class);
    idle.tell(new User.GetPresence(presence.ref()));
    assertEquals(new User.UserPresence("nobody", false, 0), presence.receiveMessage());
    assertEquals(new ClusterSharding.Passivate<>(idle), shard.receiveMessage());

    ActorRef<User.Command> user = user("ada");
    TestProbe<MemberInbox> phone = registered(user, hubOfNodeA);
    ActorRef<User.OwnSockets> room = KIT.spawn(org.apache.pekko.actor.typed.javadsl.Behaviors.ignore());
    user.tell(new User.AttachRoom(room));
    user.tell(new User.Unregister(phone.ref()));
    shard.expectNoMessage(QUIET); // its own room still counts on it for its members
    KIT.stop(room);
    assertEquals(new ClusterSharding.Passivate<>(user), shard.receiveMessage());
  }
}

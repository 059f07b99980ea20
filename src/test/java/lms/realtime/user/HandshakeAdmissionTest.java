package lms.realtime.user;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.Hubs;
import lms.realtime.fanout.LocalSockets;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.session.Connection;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.session.PerAddress;
import lms.realtime.session.SocketTime;
import lms.realtime.testkit.HandTime;
import lms.realtime.testkit.HandshakeRequest;
import lms.realtime.testkit.OneNodeCluster;
import lms.realtime.testkit.RecordingOutbox;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The last step of the handshake (contract §2, check 5 and 5′): the connection's actor asks the
 * user's entity for a slot under the per-user limit, again every {@code lms.internals.admit-retry},
 * and gives up at {@code lms.http.ask-timeout}. The real {@link Handshake} of a node on a time the
 * test moves by hand ({@link HandTime}); a probe stands in for the user entity (the sharded
 * {@link User#KEY} entity of this cluster of one hands what it is told to the probe of its user), so
 * the test decides whether and when the admission comes. Nothing here sleeps.
 */
class HandshakeAdmissionTest {
  static ActorTestKit kit;
  static Settings settings;
  static NodeContext node;
  /** The probe standing in for each user's entity, by user id. */
  static final Map<String, ActorRef<User.Command>> ENTITIES = new ConcurrentHashMap<>();
  static final Duration MILLI = Duration.ofMillis(1);
  static final String IP = HandshakeRequest.LOOPBACK;

  @BeforeAll
  static void start() throws Exception {
    kit = OneNodeCluster.start("HandshakeAdmissionTest", Map.of());
    settings = OneNodeCluster.settings(kit);
    ClusterSharding sharding = ClusterSharding.get(kit.system());
    sharding.init(Entity.of(User.KEY, ctx -> Behaviors.receiveMessage(command -> {
      ENTITIES.get(ctx.getEntityId()).tell(command);
      return Behaviors.same();
    })));
    ActorRef<Hub.Command> hub = kit.createTestProbe(Hub.Command.class).ref();
    node = new NodeContext(kit.system(), settings, TokenVerifier.fromSettings(settings, null), new Json(settings),
        new LocalSockets(), new PerAddress(), new Hubs(List.of(hub)), new Metrics(() -> 0), sharding,
        () -> true, null, SocketTime.system(kit.system()));
  }

  @AfterAll
  static void stop() {
    // a cluster of one takes longer to leave than the kit's default wait
    ActorTestKit.shutdown(kit.system(), Duration.ofSeconds(30));
  }

  /** One handshake under way: its answer to come, its time, and the probe that is its user's entity. */
  record Admitting(CompletableFuture<Handshake.Outcome> outcome, HandTime time, TestProbe<User.Command> entity,
      RecordingOutbox outbox) {
    Handshake.Outcome answer() throws Exception {
      return outcome.get(5, TimeUnit.SECONDS);
    }

    /** Waits until the connection's timer is armed to fall due {@code in} from now. */
    void awaitArmed(Duration in) {
      entity.awaitAssert(() -> {
        assertEquals(in, time.armed());
        return null;
      });
    }

    /**
     * Lets time pass until {@code before} the ask timeout, one retry at a time: each retry registers
     * again (the same socket, the same limit). Returns every registration the entity got.
     */
    List<User.Register> untilBeforeTheTimeout(Duration before) {
      List<User.Register> registers = new ArrayList<>(List.of(entity.expectMessageClass(User.Register.class)));
      Duration retry = settings.internals().admitRetry();
      Duration left = settings.http().askTimeout();
      while (left.compareTo(retry) > 0) {
        awaitArmed(retry);
        time.advance(retry);
        left = left.minus(retry);
        User.Register again = entity.expectMessageClass(User.Register.class);
        assertEquals(registers.get(0), again, "a retry registers the same socket again");
        registers.add(again);
      }
      awaitArmed(left);
      time.advance(left.minus(before));
      return registers;
    }
  }

  static Admitting open(String user) {
    HandTime time = new HandTime();
    TestProbe<User.Command> entity = kit.createTestProbe(User.Command.class);
    ENTITIES.put(user, entity.ref());
    RecordingOutbox outbox = new RecordingOutbox(node.metrics());
    CompletableFuture<Handshake.Outcome> outcome = new Handshake(node.withTime(time))
        .open(HandshakeRequest.fromLoopback(Tokens.student(user)), Handshake.Kind.SSE, () -> outbox).toCompletableFuture();
    return new Admitting(outcome, time, entity, outbox);
  }

  /** The node holds nothing of a refused connection: its actor stopped, its socket and per-IP slot given back. */
  static void awaitNothingHeld(ActorRef<MemberInbox> socket) {
    TestProbe<Object> probe = kit.createTestProbe();
    probe.expectTerminated(socket);
    probe.awaitAssert(() -> {
      assertEquals(0, node.sockets().open(), "sockets held by the node");
      assertTrue(node.perIp().tryAcquire(IP, 1), "the per-IP slot is given back");
      node.perIp().release(IP);
      return null;
    });
  }

  static String error(Handshake.Refused refused) throws Exception {
    return WsClient.JSON.readTree(refused.body()).get("error").asText();
  }

  @Test
  void noAdmissionWithinTheAskTimeoutIs503AndNot1msBefore() throws Exception {
    Admitting h = open("admit-silent");
    List<User.Register> registers = h.untilBeforeTheTimeout(MILLI);
    User.Register register = registers.get(0);
    assertEquals(settings.limits().maxConnectionsPerUser(), register.limit());
    assertEquals(settings.http().askTimeout().dividedBy(settings.internals().admitRetry()), registers.size(),
        "registered at the start and at each retry before the timeout");
    assertFalse(h.outcome().isDone(), "answered before the ask timeout");
    h.time().advance(MILLI);
    Handshake.Refused refused = assertInstanceOf(Handshake.Refused.class, h.answer());
    assertEquals(503, refused.status());
    assertEquals(ErrorCodes.UNAVAILABLE, error(refused));
    assertEquals(0, refused.retryAfterSeconds());
    awaitNothingHeld(register.member().socket());
  }

  @Test
  void anAdmission1msBeforeTheAskTimeoutOpensTheConnection() throws Exception {
    Admitting h = open("admit-late-in-time");
    User.Register register = h.untilBeforeTheTimeout(MILLI).get(0);
    ActorRef<MemberInbox> socket = register.member().socket();
    socket.tell(new User.Admission(true, h.entity().ref()));
    Handshake.Admitted admitted = assertInstanceOf(Handshake.Admitted.class, h.answer());
    assertEquals(socket, admitted.connection());
    assertSame(h.outbox(), admitted.outbox());
    assertEquals("welcome", WsClient.JSON.readTree(h.outbox().next()).get("type").asText());
    // the ask timeout passes: the admitted connection waits for its transport, it is not refused
    h.time().advance(MILLI);
    h.awaitArmed(settings.internals().attachTimeout().minus(MILLI));
    socket.tell(Connection.SocketClosed.INSTANCE);
    awaitNothingHeld(socket);
  }

  @Test
  void anAdmissionOverThePerUserLimitIs429WithRetryAfter() throws Exception {
    Admitting h = open("admit-over-limit");
    ActorRef<MemberInbox> socket = h.entity().expectMessageClass(User.Register.class).member().socket();
    socket.tell(new User.Admission(false, h.entity().ref()));
    Handshake.Refused refused = assertInstanceOf(Handshake.Refused.class, h.answer());
    assertEquals(429, refused.status());
    assertEquals(ErrorCodes.TOO_MANY_CONNECTIONS, error(refused));
    assertEquals(settings.limits().retryAfterSeconds(), refused.retryAfterSeconds());
    awaitNothingHeld(socket);
  }

  /**
   * The registration reached the user entity only after the handshake gave up (a shard moving, a
   * slow node): the entity admits a socket that is gone, and its watch of it frees the slot at once.
   * Here the real entity gets the registration late; it holds nothing then, and so passivates.
   */
  @Test
  void anAdmissionAfterTheTimeoutLeavesNoSlotTaken() throws Exception {
    Admitting h = open("admit-after-timeout");
    User.Register register = h.untilBeforeTheTimeout(Duration.ZERO).get(0);
    assertEquals(503, assertInstanceOf(Handshake.Refused.class, h.answer()).status());
    awaitNothingHeld(register.member().socket());
    TestProbe<ClusterSharding.ShardCommand> shard = kit.createTestProbe(ClusterSharding.ShardCommand.class);
    ActorRef<User.Command> user = kit.spawn(User.create("admit-after-timeout", shard.ref(), node.metrics()));
    user.tell(register);
    shard.expectMessageClass(ClusterSharding.Passivate.class);
  }
}

package lms.realtime.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.auth.Identity;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Hubs;
import lms.realtime.fanout.LocalSockets;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.protocol.Json;
import lms.realtime.testkit.HandTime;
import lms.realtime.testkit.OneNodeCluster;
import lms.realtime.testkit.RecordingOutbox;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import lms.realtime.transport.fallback.PollOutbox;
import lms.realtime.user.User;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One {@link Connection} actor, message by message, on a time the test moves by hand
 * ({@link HandTime}): the test is its transport (it tells it {@link Connection.SocketOpened} and the
 * client's frames, and polls a long-poll connection's outbox), a {@link RecordingOutbox} takes what
 * it sends (or a real {@link PollOutbox}), and a real user entity (sharded,
 * on a cluster of one) admits it. Its deadlines (contract §8: 4002 after two heartbeat intervals of
 * silence, 4001 at {@code exp} plus the clock skew), its rate gate (§7: {@code rate_limited}, then
 * 4029) and its phases are decided by that time, so nothing here sleeps: a deadline is shown not to
 * be due one millisecond before it, and due at it.
 */
class ConnectionTest {
  static ActorTestKit kit;
  static Settings settings;
  /** The node's context on the system's time; each test's connection gets it on its own hand-moved time. */
  static NodeContext node;

  @BeforeAll
  static void start() throws Exception {
    kit = OneNodeCluster.start("ConnectionTest", Map.of());
    settings = OneNodeCluster.settings(kit);
    Metrics metrics = new Metrics(() -> 0);
    User.init(kit.system(), metrics);
    ActorRef<Hub.Command> hub = kit.createTestProbe(Hub.Command.class).ref();
    node = new NodeContext(kit.system(), settings, TokenVerifier.fromSettings(settings, null), new Json(settings),
        new LocalSockets(), new PerAddress(), new Hubs(List.of(hub)), metrics, ClusterSharding.get(kit.system()),
        () -> true, null, SocketTime.system(kit.system()));
  }

  @AfterAll
  static void stop() {
    // a cluster of one takes longer to leave than the kit's default wait
    ActorTestKit.shutdown(kit.system(), Duration.ofSeconds(30));
  }

  /** A connection under test: its actor, its outbox, its time. */
  record Socket(ActorRef<MemberInbox> actor, RecordingOutbox outbox, HandTime time) {
    void send(String text) {
      actor.tell(new Connection.Inbound(() -> {}, new Incoming.Text(text)));
    }

    /** Waits until the connection's timer is armed to fall due {@code in} from now. */
    void awaitArmed(Duration in) {
      kit.createTestProbe().awaitAssert(() -> {
        assertEquals(in, time.armed());
        return null;
      });
    }

    /** Everything told before has been handled: a frame delivered now comes out of the outbox. */
    void settle() throws InterruptedException {
      actor.tell(new MemberInbox.Deliver("{\"type\":\"marker\"}"));
      assertEquals("{\"type\":\"marker\"}", outbox.next());
    }

    JsonNode next() throws Exception {
      return WsClient.JSON.readTree(outbox.next());
    }

    /** The token's deadline is armed {@code in} from now: not due 1 ms before, 4001 at it. */
    void closesWith4001In(Duration in) throws InterruptedException {
      awaitArmed(in);
      time.advance(in.minus(MILLI));
      settle();
      assertFalse(outbox.isClosing(), "closed before exp + skew");
      time.advance(MILLI);
      awaitClosed(CloseCodes.TOKEN_EXPIRED);
    }

    void awaitClosed(int code) {
      kit.createTestProbe().awaitAssert(() -> {
        assertTrue(outbox.isClosing(), "closed");
        assertEquals(code, outbox.closeCode());
        return null;
      });
    }
  }

  static long epochSeconds(HandTime time) {
    return time.wallClock().millis() / 1000;
  }

  /** A connection of {@code user} admitted by its user entity (not yet opened), its token expiring at {@code exp}. */
  static Socket admitted(String user, HandTime time, long exp) throws Exception {
    RecordingOutbox outbox = new RecordingOutbox(node.metrics());
    return new Socket(admitted(user, time, exp, outbox), outbox, time);
  }

  static ActorRef<MemberInbox> admitted(String user, HandTime time, long exp, Outbox outbox) throws Exception {
    Identity identity = new Identity(user, user, Set.of("student"), Map.of(), exp, null);
    NodeContext timed = node.withTime(time);
    CompletableFuture<Boolean> admitted = new CompletableFuture<>();
    ActorRef<MemberInbox> actor = kit.spawn(Connection.create(timed, identity, outbox, new Gate(settings, time), "127.0.0.1", admitted));
    assertTrue(admitted.get(15, TimeUnit.SECONDS), "admitted");
    return actor;
  }

  static Socket open(String user, HandTime time, long exp) throws Exception {
    Socket socket = admitted(user, time, exp);
    socket.actor().tell(new Connection.SocketOpened(() -> {}));
    return socket;
  }

  static String ping(String id) {
    return "{\"type\":\"ping\",\"id\":\"" + id + "\"}";
  }

  static final Duration MILLI = Duration.ofMillis(1);

  Duration silence() {
    return Duration.ofSeconds(2L * settings.heartbeatSeconds());
  }

  @Test
  void silenceForTwoHeartbeatIntervalsClosesWith4002AndNotBefore() throws Exception {
    HandTime time = new HandTime();
    Socket s = open("conn-silent", time, epochSeconds(time) + 3600);
    s.awaitArmed(silence());
    time.advance(silence().minus(MILLI));
    s.settle();
    assertFalse(s.outbox().isClosing(), "closed before two heartbeat intervals");
    // a frame is a heartbeat: at the first deadline nothing is due, and the silence counts from the frame
    s.send(ping("alive"));
    assertEquals("alive", s.next().get("id").asText());
    time.advance(MILLI);
    s.settle();
    assertFalse(s.outbox().isClosing(), "closed though a frame came");
    s.awaitArmed(silence().minus(MILLI));
    time.advance(silence().minus(MILLI.multipliedBy(2)));
    s.settle();
    assertFalse(s.outbox().isClosing(), "closed before two heartbeat intervals after the last frame");
    time.advance(MILLI);
    s.awaitClosed(CloseCodes.HEARTBEAT_MISSED);
    // closing: a peer that does not finish the close is dropped at the close grace
    s.awaitArmed(settings.limits().closeGrace());
    time.advance(settings.limits().closeGrace());
    kit.createTestProbe().expectTerminated(s.actor());
  }

  @Test
  void theTokensExpiryPlusTheSkewClosesWith4001AndNotBefore() throws Exception {
    HandTime time = new HandTime();
    // expiring before the heartbeat deadline, so that the token's is the nearer
    long exp = epochSeconds(time) + 2L * settings.heartbeatSeconds() - settings.jwt().clockSkewSeconds() - 10;
    Duration untilExpiry = Duration.ofMillis((exp + settings.jwt().clockSkewSeconds()) * 1000 - time.wallClock().millis());
    open("conn-expiring", time, exp).closesWith4001In(untilExpiry);
  }

  /**
   * A refresh is checked on the connection's time (the node's verifier reads its wall clock): a
   * token past {@code exp} + skew by that time is refused though the system's clock would take it,
   * and a valid one moves the 4001 deadline to its own {@code exp} + skew, on the same clock.
   */
  @Test
  void aRefreshIsCheckedOnTheConnectionsTime() throws Exception {
    HandTime time = new HandTime();
    Socket s = open("conn-refresh", time, epochSeconds(time) + 3600);
    long skew = settings.jwt().clockSkewSeconds();
    String soon = accessToken("conn-refresh", epochSeconds(time) + 5);
    time.advance(Duration.ofSeconds(5 + skew));
    s.send(refresh("r1", soon));
    JsonNode refused = s.next();
    assertEquals("error", refused.get("type").asText(), "refused by the connection's time: " + refused);
    assertEquals("unauthorized", refused.get("code").asText(), refused.toString());
    assertTrue(refused.get("message").asText().contains("expired"), refused.toString());
    long exp = epochSeconds(time) + 5;
    s.send(refresh("r2", accessToken("conn-refresh", exp)));
    JsonNode refreshed = s.next();
    assertEquals("refreshed", refreshed.get("type").asText(), refreshed.toString());
    assertEquals(exp, refreshed.get("exp").asLong());
    s.closesWith4001In(Duration.ofSeconds(5 + skew));
  }

  static String accessToken(String user, long exp) {
    return Tokens.handMade("{\"alg\":\"HS256\"}", "{\"sub\":\"" + user + "\",\"exp\":" + exp + "}");
  }

  static String refresh(String id, String token) {
    return "{\"type\":\"refresh\",\"id\":\"" + id + "\",\"token\":\"" + token + "\"}";
  }

  @Test
  void aBurstOverTheRateGetsRateLimitedThenTheCloseWith4029() throws Exception {
    HandTime time = new HandTime();
    Socket s = open("conn-burst", time, epochSeconds(time) + 3600);
    for (int i = 0; i < settings.limits().rateBurst(); i++) {
      s.send(ping("p" + i));
      assertEquals("p" + i, s.next().get("id").asText());
    }
    s.send(ping("over"));
    JsonNode limited = s.next();
    assertEquals("rate_limited", limited.get("code").asText());
    assertEquals("over", limited.get("id").asText());
    // the bucket refills by the gate's time (one and a half frames' worth: one passes, the rest is no
    // frame), and an accepted frame ends the strikes
    time.advance(Duration.ofNanos((long) (1.5e9 / settings.limits().ratePerSecond())));
    s.send(ping("refilled"));
    assertEquals("pong", s.next().get("type").asText());
    for (int i = 1; i <= settings.limits().rateStrikesBeforeClose(); i++) {
      s.send(ping("strike" + i));
      assertEquals("rate_limited", s.next().get("code").asText(), "strike " + i);
    }
    assertFalse(s.outbox().isClosing(), "closed at " + settings.limits().rateStrikesBeforeClose() + " strikes");
    s.send(ping("last"));
    s.awaitClosed(CloseCodes.RATE_LIMITED);
    s.outbox().expectNothingMore(); // the closing frame gets no error frame
  }

  @Test
  void framesBeforeTheSocketIsOpenAreAckedAndNotHandled() throws Exception {
    HandTime time = new HandTime();
    Socket s = admitted("conn-early", time, epochSeconds(time) + 3600);
    TestProbe<String> acks = kit.createTestProbe();
    s.actor().tell(new Connection.Inbound(() -> acks.ref().tell("ack"), new Incoming.Text(ping("early"))));
    acks.expectMessage("ack");
    s.settle(); // no pong came before the marker
    s.actor().tell(new Connection.SocketOpened(() -> acks.ref().tell("opened")));
    acks.expectMessage("opened");
    s.send(ping("open"));
    assertEquals("open", s.next().get("id").asText());
    // gone before the kit shuts down: an open connection would register again with its user entity as
    // the shard stops it, and the region would hold that message for its 20 s hand-off timeout
    s.actor().tell(Connection.SocketClosed.INSTANCE);
    kit.createTestProbe().expectTerminated(s.actor());
  }

  @Test
  void anAdmittedConnectionWhoseTransportNeverAttachesStopsAtTheAttachTimeout() throws Exception {
    HandTime time = new HandTime();
    Socket s = admitted("conn-unattached", time, epochSeconds(time) + 3600);
    Duration attach = settings.internals().attachTimeout();
    s.awaitArmed(attach);
    time.advance(attach.minus(MILLI));
    s.settle();
    time.advance(MILLI);
    kit.createTestProbe().expectTerminated(s.actor());
  }

  /** A long-poll client's polls of its connection's outbox, as {@code FallbackEndpoints} makes them. */
  static final class Polls {
    private final PollOutbox outbox;
    private long position;

    Polls(PollOutbox outbox) {
      this.outbox = outbox;
    }

    /** A poll from where the last answer left off; {@code mayWait}: as a client's (the first one may not). */
    CompletableFuture<List<JsonNode>> poll(boolean mayWait) {
      CompletableFuture<List<JsonNode>> answer = new CompletableFuture<>();
      outbox.poll(position, mayWait, (frames, next) -> {
        position = next;
        List<JsonNode> list = new ArrayList<>();
        try {
          WsClient.JSON.readTree(frames).forEach(list::add);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
        answer.complete(list);
      });
      return answer;
    }
  }

  /**
   * Docs/protocol.md §16: a long-poll connection whose client still POSTs but no longer polls is a
   * client gone: 4002 two heartbeat intervals after the last answer a poll took (here a poll that
   * waited the whole poll wait, answered {@code []}), though its last frame came later; and not 1 ms
   * before. The outbox stamps that answer on the connection's time.
   */
  @Test
  void aLongPollConnectionThatStopsPollingClosesWith4002TwoIntervalsAfterItsLastAnswer() throws Exception {
    HandTime time = new HandTime();
    PollOutbox outbox = new PollOutbox(settings, node.metrics(), time);
    outbox.welcome(Frame.text("{\"type\":\"welcome\"}"));
    ActorRef<MemberInbox> actor = admitted("conn-poller", time, epochSeconds(time) + 3600, outbox);
    actor.tell(new Connection.SocketOpened(() -> {}));
    Polls polls = new Polls(outbox);
    assertEquals("welcome", polls.poll(false).get(3, TimeUnit.SECONDS).get(0).get("type").asText());
    CompletableFuture<List<JsonNode>> waiting = polls.poll(true);
    Duration pollWait = settings.fallback().pollWait();
    time.advance(pollWait);
    assertFalse(waiting.isDone(), "answered before the poll wait was over");
    outbox.expire(pollWait.toNanos()); // the node's ticker, at the poll wait
    assertEquals(List.of(), waiting.get(3, TimeUnit.SECONDS));
    // the client POSTs a ping later, and polls no more: its silence counts from the answer, not from the ping
    Duration afterAnswer = Duration.ofSeconds(5);
    time.advance(afterAnswer);
    TestProbe<String> acks = kit.createTestProbe();
    actor.tell(new Connection.Inbound(() -> acks.ref().tell("ack"), new Incoming.Posted(List.of(ping("posted")), false)));
    acks.expectMessage("ack");
    // the deadline armed at the open (two intervals after it) finds the client heard since: armed again
    time.advance(silence().minus(pollWait).minus(afterAnswer));
    Duration due = pollWait;
    kit.createTestProbe().awaitAssert(() -> {
      assertEquals(due, time.armed());
      return null;
    });
    time.advance(due.minus(MILLI));
    assertFalse(outbox.isClosing(), "closed before two heartbeat intervals after the last answer");
    time.advance(MILLI);
    kit.createTestProbe().awaitAssert(() -> {
      assertTrue(outbox.isClosing(), "closed");
      assertEquals(CloseCodes.HEARTBEAT_MISSED, outbox.closeCode());
      return null;
    });
    // what polls would still take: the pong, then the close (queued just after the outbox says it is closing)
    List<JsonNode> last = new ArrayList<>(polls.poll(true).get(3, TimeUnit.SECONDS));
    if (last.size() < 2) {
      last.addAll(polls.poll(true).get(3, TimeUnit.SECONDS));
    }
    assertEquals("posted", last.get(0).get("id").asText());
    assertEquals("close", last.get(1).get("type").asText());
    assertEquals(CloseCodes.HEARTBEAT_MISSED, last.get(1).get("code").asInt());
    // the close frame can reach a poll before the actor arms the close grace: moved before, it never falls due
    kit.createTestProbe().awaitAssert(() -> {
      assertEquals(settings.limits().closeGrace(), time.armed());
      return null;
    });
    time.advance(settings.limits().closeGrace());
    kit.createTestProbe().expectTerminated(actor);
  }
}

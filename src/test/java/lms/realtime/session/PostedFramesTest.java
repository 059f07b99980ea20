package lms.realtime.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.testkit.HandshakeRequest;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import lms.realtime.transport.fallback.PollOutbox;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The {@link Connection} actor with the HTTP fallback's input (contract §10), message by message:
 * a POST's frames ({@link Incoming.Posted}) are applied in order as a socket's text messages, with
 * one ack for the POST; a frame over the size bound closes with 1009 after the frames before it,
 * and nothing after the close is applied. The connection is admitted by the real {@link Handshake}
 * of a real node; its outbox is a long-poll connection's ({@link PollOutbox}), read here by polls.
 */
@Tag("socket")
class PostedFramesTest {
  static TestNode node;
  static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    // a short close grace: the test waits for it below
    node = TestNode.start(Map.of("lms.limits.close-grace", "2s"));
    testKit = ActorTestKit.create(node.node.system());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  /** An open long-poll connection: its actor and its outbox, the welcome read. */
  record Open(ActorRef<MemberInbox> connection, PollOutbox outbox, long[] position) {
    /** The frames that come next (at once, or the first that comes within a few seconds). */
    List<JsonNode> next() throws Exception {
      CompletableFuture<byte[]> answer = new CompletableFuture<>();
      outbox.poll(position[0], true, (frames, next) -> {
        position[0] = next;
        answer.complete(frames);
      });
      List<JsonNode> frames = new ArrayList<>();
      WsClient.JSON.readTree(answer.get(5, TimeUnit.SECONDS)).forEach(frames::add);
      return frames;
    }

    /** The next frames, up to {@code n} of them, polling again until they have come. */
    List<JsonNode> next(int n) throws Exception {
      List<JsonNode> frames = new ArrayList<>();
      while (frames.size() < n) {
        frames.addAll(next());
      }
      return frames;
    }
  }

  static Open open(String user) throws Exception {
    Handshake.Outcome outcome = new Handshake(node.node.context())
        .open(HandshakeRequest.fromLoopback(Tokens.student(user)), Handshake.Kind.POLL,
            () -> new PollOutbox(node.node.context().settings(), node.node.context().metrics(), node.node.context().time()))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    Handshake.Admitted admitted = assertInstanceOf(Handshake.Admitted.class, outcome);
    admitted.connection().tell(new Connection.SocketOpened(() -> {}));
    Open open = new Open(admitted.connection(), (PollOutbox) admitted.outbox(), new long[] {0});
    assertEquals("welcome", open.next().get(0).get("type").asText());
    return open;
  }

  static Connection.Inbound posted(TestProbe<String> acks, boolean thenTooLarge, String... frames) {
    return new Connection.Inbound(() -> acks.ref().tell("ack"), new Incoming.Posted(List.of(frames), thenTooLarge));
  }

  static String ping(String id) {
    return "{\"type\":\"ping\",\"id\":\"" + id + "\"}";
  }

  @Test
  void aPostsFramesAreAppliedInOrderWithOneAck() throws Exception {
    Open c = open("posted-order");
    TestProbe<String> acks = testKit.createTestProbe();
    c.connection().tell(posted(acks, false, ping("1"), "not json", ping("3")));
    acks.expectMessage("ack");
    List<JsonNode> frames = c.next(3);
    assertEquals("1", frames.get(0).get("id").asText());
    assertEquals("bad_request", frames.get(1).get("code").asText());
    assertEquals("3", frames.get(2).get("id").asText());
    acks.expectNoMessage(Duration.ofMillis(100));
    // an empty POST: acked, nothing said
    c.connection().tell(posted(acks, false));
    acks.expectMessage("ack");
    c.connection().tell(posted(acks, false, ping("4")));
    acks.expectMessage("ack");
    assertEquals("4", c.next().get(0).get("id").asText());
  }

  @Test
  void aFrameOverTheBoundClosesAfterTheFramesBeforeItAndNothingLaterIsApplied() throws Exception {
    Open c = open("posted-large");
    TestProbe<String> acks = testKit.createTestProbe();
    c.connection().tell(posted(acks, true, ping("before")));
    acks.expectMessage("ack");
    c.connection().tell(posted(acks, false, ping("after")));
    acks.expectMessage("ack"); // acked, so that the transport does not wait for ever, but not applied
    List<JsonNode> frames = c.next(2);
    assertEquals("before", frames.get(0).get("id").asText());
    JsonNode close = frames.get(1);
    assertEquals("close", close.get("type").asText());
    assertEquals(1009, close.get("code").asInt());
    assertEquals(2, frames.size(), "nothing after the close: " + frames);
    // the actor stops at the close grace at the latest (no transport tells it here that the peer has the close)
    TestProbe<MemberInbox> watcher = testKit.createTestProbe();
    watcher.expectTerminated(c.connection(), Duration.ofSeconds(10));
    assertTrue(c.outbox().isClosing());
  }
}

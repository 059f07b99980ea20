package lms.realtime.connection;

import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import lms.realtime.NodeContext;
import lms.realtime.auth.Identity;
import lms.realtime.protocol.Json;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.ws.Message;
import org.apache.pekko.http.javadsl.model.ws.TextMessage;
import org.apache.pekko.http.javadsl.model.ws.WebSocketUpgrade;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSink;

/**
 * Opens a socket: spawns its {@link Connection} actor, lets it register with its user entity (the
 * per-user limit, cluster-wide), and only then answers the upgrade, with a stream that feeds the
 * actor (back-pressured, each frame collected with a size bound) and drains its {@link Outbox}.
 */
public final class SocketBridge {
  private SocketBridge() {}

  /** The upgrade response, or empty when the user is over their connection limit. */
  public static CompletionStage<Optional<HttpResponse>> open(
      NodeContext node, WebSocketUpgrade upgrade, Identity identity, String ip) {
    Materializer mat = Materializer.matFromSystem(node.system());
    String connectionId = "c-" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
    SharedKillSwitch killSwitch = KillSwitches.shared(connectionId);
    Outbox outbox = new Outbox(killSwitch, node.settings(), node.metrics());
    // Both come into being with the socket's own stream: no stream of their own per handshake.
    Source<Object, NotUsed> frames = Source.<Object>queue(node.settings().outgoingBuffer())
        .mapMaterializedValue(queue -> {
          outbox.attach(queue);
          return NotUsed.getInstance();
        });
    Source<Object, NotUsed> control = Source.completionStage(outbox.closeCommand());

    CompletableFuture<Boolean> admitted = new CompletableFuture<>();
    ActorRef<Connection.Command> connection =
        node.system().systemActorOf(
            Connection.create(node, identity, connectionId, outbox, ip, admitted), connectionId, Props.empty());

    return admitted.thenApply(ok -> {
      if (!ok) {
        return Optional.empty();
      }
      return Optional.of(WebSocketStack.upgrade(
          node.system().classicSystem(),
          upgrade,
          incoming(connection, node.settings().maxFrameBytes(), mat).asScala(),
          frames.asScala(),
          control.asScala(),
          killSwitch));
    });
  }

  /**
   * Incoming messages to the actor. Coupled with a source that never emits: when the peer closes,
   * the incoming side completes, which completes our side too and lets pekko-http finish the close
   * handshake. Outgoing data does not use this flow (see {@link WebSocketStack}).
   */
  private static Flow<Message, Message, NotUsed> incoming(ActorRef<Connection.Command> connection, int maxBytes, Materializer mat) {
    Sink<Message, NotUsed> toActor =
        Flow.<Message>create()
            .mapAsync(1, m -> collect(m, maxBytes, mat, connection))
            .to(ActorSink.actorRefWithBackpressure(
                connection,
                Connection.Inbound::new,
                Connection.StreamStarted::new,
                Connection.Ack.INSTANCE,
                Connection.StreamEnded.INSTANCE,
                Connection.StreamFailed::new));
    return Flow.fromSinkAndSourceCoupled(toActor, Source.<Message>maybe());
  }

  /** One whole text message within the size bound, or why there is none. */
  private static CompletionStage<Connection.Incoming> collect(
      Message message, int maxBytes, Materializer mat, ActorRef<Connection.Command> connection) {
    if (!message.isText()) {
      if (!message.asBinaryMessage().isStrict()) {
        message.asBinaryMessage().getStreamedData().runWith(Sink.ignore(), mat);
      }
      return CompletableFuture.completedFuture(Connection.Binary.INSTANCE);
    }
    TextMessage text = message.asTextMessage();
    if (text.isStrict()) {
      String s = text.getStrictText();
      // every char is at least one byte and at most three: count only when it matters
      boolean tooLarge = s.length() > maxBytes || (3L * s.length() > maxBytes && Json.utf8Length(s) > maxBytes);
      return CompletableFuture.completedFuture(tooLarge ? Connection.TooLarge.INSTANCE : new Connection.Text(s));
    }
    // The message is drained to its end but not kept past the bound. Cancelling it early does not
    // work: pekko-http then ends (limitWeighted: fails, 1011; takeWhile: completes, 1000) the whole
    // socket. So the actor hears at once, and closes with 1009 while the rest drains.
    long[] bytes = {0};
    return text.getStreamedText()
        .runFold(new StringBuilder(), (b, chunk) -> {
          boolean wasOver = bytes[0] > maxBytes;
          bytes[0] += Json.utf8Length(chunk);
          if (bytes[0] > maxBytes) {
            if (!wasOver) {
              connection.tell(Connection.FrameTooLarge.INSTANCE);
            }
            return b;
          }
          return b.append(chunk);
        }, mat)
        .thenApply(b -> bytes[0] > maxBytes ? Connection.TooLarge.INSTANCE : new Connection.Text(b.toString()));
  }
}

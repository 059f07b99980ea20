package lms.realtime.connection;

import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import lms.realtime.NodeContext;
import lms.realtime.auth.Identity;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.scaladsl.Flow;

/**
 * Opens a socket: spawns its {@link Connection} actor, lets it register with its user entity (the
 * per-user limit, cluster-wide), and only then answers the upgrade, with the one stage
 * ({@link SocketStage}) that feeds the actor and drains its {@link Outbox}.
 */
public final class SocketBridge {
  /** How long the stage waits for the client's close frame after sending ours. */
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(3);

  private SocketBridge() {}

  /**
   * The upgrade response, or empty when the user is over their connection limit. The request must
   * be one pekko-http has recognised as a WebSocket upgrade.
   */
  public static CompletionStage<Optional<HttpResponse>> open(NodeContext node, HttpRequest request, Identity identity, String ip) {
    String connectionId = "c-" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
    Outbox outbox = new Outbox(node.settings(), node.metrics());
    CompletableFuture<Boolean> admitted = new CompletableFuture<>();
    ActorRef<Connection.Command> connection =
        node.system().systemActorOf(
            Connection.create(node, identity, connectionId, outbox, ip, admitted), connectionId, Props.empty());

    return admitted.thenApply(ok -> {
      if (!ok) {
        return Optional.empty();
      }
      SocketStage stage = new SocketStage(
          connection, outbox, node.settings().maxFrameBytes(), node.settings().keepAliveIdle(), CLOSE_TIMEOUT);
      return Optional.of(WebSocketStack.upgrade(request, Flow.fromGraph(stage)));
    });
  }
}

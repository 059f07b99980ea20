package lms.realtime.transport;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * How a node's one public port is carried (contract §9, {@code lms.transport}): the WebSocket
 * upgrades and every other HTTP request. Both transports run the same handshake decisions
 * ({@code session.Handshake}), the same {@code Connection} actor per socket and the same routes;
 * they differ in who owns the sockets' bytes.
 */
public interface Transport {
  /** Listens on the configured host and port. */
  CompletionStage<Binding> bind();

  /** A bound port. */
  interface Binding {
    InetSocketAddress localAddress();

    /** Stops accepting new connections; open ones stay. */
    CompletionStage<Void> unbind();

    /** Ends every connection still open, after at most {@code deadline} for requests under way. */
    CompletionStage<Void> terminate(Duration deadline);
  }
}

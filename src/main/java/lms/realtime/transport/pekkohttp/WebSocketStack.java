package lms.realtime.transport.pekkohttp;

import java.util.List;
import lms.realtime.session.Handshake;
import org.apache.pekko.http.impl.engine.server.UpgradeToOtherProtocolResponseHeader;
import org.apache.pekko.http.impl.engine.ws.Handshake$;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.scaladsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * The 101 answer that hands a pekko-http connection's bytes to a {@link SocketStage}.
 *
 * <p>The one place that reaches into pekko-http internals: {@code UpgradeToOtherProtocolResponseHeader}
 * is how pekko-http itself attaches a WebSocket to a connection (it is what
 * {@code WebSocketUpgrade.handleMessagesWith} builds, around its own multi-stage frame stack).
 * Giving it our single stage instead is what lets us close with our own codes (pekko-http closes
 * with 1000 or 1011 only, akka-http issue #2458) and costs one stage per socket instead of dozens.
 * Re-check on every pekko-http upgrade; the socket tests fail loudly if it breaks.
 */
final class WebSocketStack {
  private WebSocketStack() {}

  /**
   * The 101 answer to a request pekko-http has already checked to be a WebSocket upgrade (it carries
   * the {@code webSocketUpgrade} attribute); from then on the connection's bytes go through
   * {@code socket}.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static HttpResponse upgrade(HttpRequest request, Flow<ByteString, ByteString, ?> socket) {
    String key = request.getHeader("Sec-WebSocket-Key").map(HttpHeader::value).orElseThrow();
    List<HttpHeader> headers = List.of(
        Handshake$.MODULE$.UpgradeHeader(),
        Handshake$.MODULE$.ConnectionUpgradeHeader(),
        RawHeader.create("Sec-WebSocket-Accept", Handshake.accept(key)),
        UpgradeToOtherProtocolResponseHeader.apply((Flow) socket));
    return HttpResponse.create().withStatus(StatusCodes.SWITCHING_PROTOCOLS).addHeaders(headers);
  }
}

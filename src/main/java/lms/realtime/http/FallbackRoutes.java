package lms.realtime.http;

import java.util.Optional;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The HTTP fallback's endpoints (contract §10), which the transport answers itself, as it answers
 * {@code /ws}: the routes only place them ({@link Routes}). On the netty transport these requests
 * never reach the routes.
 */
public interface FallbackRoutes {
  /** {@code GET /sse}: the handshake, then an event stream, or (mode {@code poll}) the first long poll. */
  Route open(Optional<String> mode);

  /** {@code POST /sse/{connectionId}}: frames from the client. */
  Route post(String connectionId);

  /** {@code GET /sse/{connectionId}/poll}: the next long poll. */
  Route poll(String connectionId, Optional<String> key, Optional<String> from);

  /** {@code OPTIONS} of any of them: the CORS preflight. */
  Route preflight();
}

package lms.realtime.http;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import lms.realtime.NodeContext;
import lms.realtime.auth.Identity;
import lms.realtime.auth.TokenException;
import lms.realtime.connection.SocketBridge;
import lms.realtime.room.RoomName;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.HttpCookiePair;
import org.apache.pekko.http.javadsl.model.ws.WebSocketUpgrade;

/**
 * The handshake of contract §2, answered before any upgrade, in this order: the token (401), the
 * Origin (403), the upgrade itself (400), the per-IP limit (429), the per-user limit (429, asked of the
 * user entity, so it holds across the cluster). Only then the 101 and the {@code welcome} frame.
 */
final class WebSocketRoute {
  private final NodeContext node;

  WebSocketRoute(NodeContext node) {
    this.node = node;
  }

  CompletionStage<HttpResponse> handshake(HttpRequest request) {
    Identity identity;
    try {
      identity = node.verifier().verifyAccess(token(request));
    } catch (TokenException e) {
      return refuse("unauthorized", Responses.error(StatusCodes.UNAUTHORIZED, "unauthorized", e.getMessage()));
    }
    if (!RoomName.validUserId(identity.userId())) {
      return refuse("unauthorized", Responses.error(StatusCodes.UNAUTHORIZED, "unauthorized", "sub is not a usable user id"));
    }
    Optional<String> origin = request.getHeader("Origin").map(h -> h.value());
    if (origin.isPresent() && !originAllowed(origin.get(), request)) {
      return refuse("origin", Responses.error(StatusCodes.FORBIDDEN, "origin_not_allowed", "origin " + origin.get() + " is not allowed"));
    }
    Optional<WebSocketUpgrade> upgrade = request.getAttribute(AttributeKeys.webSocketUpgrade);
    if (upgrade.isEmpty()) {
      return refuse("not_websocket", Responses.badRequest("not a WebSocket upgrade"));
    }
    String ip = ClientAddress.of(request, node.settings().trustedProxies());
    if (!node.sockets().tryAcquireIp(ip, node.settings().maxConnectionsPerIp())) {
      return refuse("per_ip_limit", Responses.tooManyConnections(node.settings().retryAfterSeconds(),
          "at most " + node.settings().maxConnectionsPerIp() + " connections from one address"));
    }
    CompletionStage<Optional<HttpResponse>> opened;
    try {
      opened = SocketBridge.open(node, request, identity, ip);
    } catch (RuntimeException e) {
      node.sockets().releaseIp(ip);
      throw e;
    }
    return opened.handle((response, failure) -> {
      if (failure != null) {
        node.metrics().handshakeRefused("unavailable");
        return Responses.unavailable("the user registry did not answer in time");
      }
      return response.orElseGet(() -> {
        node.metrics().handshakeRefused("per_user_limit");
        return Responses.tooManyConnections(node.settings().retryAfterSeconds(),
            "at most " + node.settings().maxConnectionsPerUser() + " connections per user");
      });
    });
  }

  private CompletionStage<HttpResponse> refuse(String reason, HttpResponse response) {
    node.metrics().handshakeRefused(reason);
    return CompletableFuture.completedFuture(response);
  }

  /** The token of an {@code Authorization: Bearer} header, if there is one (also the backend API's). */
  static Optional<String> bearer(HttpRequest request) {
    return request.getHeader("Authorization")
        .map(h -> h.value())
        .filter(v -> v.regionMatches(true, 0, "Bearer ", 0, 7))
        .map(v -> v.substring(7).trim());
  }

  /** From the Authorization header, then the cookie, then the {@code token} query parameter. */
  private String token(HttpRequest request) {
    Optional<String> bearer = bearer(request);
    if (bearer.isPresent()) {
      return bearer.get();
    }
    for (HttpCookiePair cookie : request.getHeader(org.apache.pekko.http.javadsl.model.headers.Cookie.class)
        .map(c -> (Iterable<HttpCookiePair>) c.getCookies())
        .orElse(java.util.List.of())) {
      if (cookie.name().equals(node.settings().cookieName())) {
        return cookie.value();
      }
    }
    return request.getUri().query().get("token").orElse(null);
  }

  /** The allow-list; in demo mode the engine's own pages (same origin as the request) too. */
  private boolean originAllowed(String origin, HttpRequest request) {
    if (node.settings().originAllowed(origin)) {
      return true;
    }
    if (!node.isDemo()) {
      return false;
    }
    return request.getHeader("Host")
        .map(h -> origin.equals("http://" + h.value()) || origin.equals("https://" + h.value()))
        .orElse(false);
  }
}

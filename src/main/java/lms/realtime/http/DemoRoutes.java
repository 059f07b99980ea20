package lms.realtime.http;

import java.util.List;
import java.util.Map;
import lms.realtime.auth.TokenSigner;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.RoomName;
import lms.realtime.session.NodeContext;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * Demo mode only: the live-classroom page at {@code /} and self-minted tokens, so a newcomer can try
 * the engine with nothing else installed. Insecure by design; the node says so loudly at start.
 */
final class DemoRoutes extends AllDirectives {
  static final String COURSE = "demo-101";
  static final String LIVE_ROOM = "live:demo-class";
  private static final long TOKEN_SECONDS = 3600;
  /** What {@code ttl} may ask for: short enough to try in-band refresh, at most a day. */
  static final long MIN_TTL_SECONDS = 10;
  static final long MAX_TTL_SECONDS = 86_400;

  private final NodeContext node;
  private final TokenSigner signer;

  DemoRoutes(NodeContext node) {
    this.node = node;
    this.signer = new TokenSigner(node.demo().secret());
  }

  Route route() {
    return concat(
        pathSingleSlash(() -> getFromResource("web/index.html")),
        pathPrefix("demo", () -> concat(
            path("token", () -> get(() -> parameter("user", user -> parameterOptional("name", name ->
                parameterOptional("role", role -> parameterOptional("ttl", ttl -> extractRequest(req -> complete(
                    token(user, name.orElse(user), role.orElse("student"), ttl.orElse(null),
                        req.getHeader("Host").map(h -> h.value()).orElse("localhost")))))))))),
            path("service-token", () -> get(() -> complete(Responses.json(StatusCodes.OK,
                "{\"token\":" + Json.quote(sign(Map.of("sub", "demo-backend", "roles", List.of("service")), TOKEN_SECONDS)) + "}")))))),
        getFromResourceDirectory("web"));
  }

  private org.apache.pekko.http.javadsl.model.HttpResponse token(String user, String name, String role, String ttlText, String host) {
    if (!RoomName.validUserId(user) || !(role.equals("student") || role.equals("instructor"))) {
      return ApiError.badRequest("user must be an id (1-128 of letters, digits and . _ @ ~ | : + = -) and role student or instructor").response();
    }
    long ttl;
    try {
      ttl = ttlText == null ? TOKEN_SECONDS : Long.parseLong(ttlText);
    } catch (NumberFormatException ex) {
      ttl = -1;
    }
    if (ttl < MIN_TTL_SECONDS || ttl > MAX_TTL_SECONDS) {
      return ApiError.badRequest("ttl is the tokens' lifetime in whole seconds, " + MIN_TTL_SECONDS + " to " + MAX_TTL_SECONDS).response();
    }
    String access = sign(Map.of("sub", user, "name", name, "courses", Map.of(COURSE, role)), ttl);
    String live = sign(Map.of("sub", user, "room", LIVE_ROOM, "role", role), ttl);
    return Responses.json(StatusCodes.OK, "{\"token\":" + Json.quote(access)
        + ",\"liveToken\":" + Json.quote(live)
        + ",\"userId\":" + Json.quote(user)
        + ",\"name\":" + Json.quote(name)
        + ",\"role\":" + Json.quote(role)
        + ",\"courseRoom\":" + Json.quote("course:" + COURSE)
        + ",\"liveRoom\":" + Json.quote(LIVE_ROOM)
        + ",\"wsUrl\":" + Json.quote("ws://" + host + "/ws") + "}");
  }

  private String sign(Map<String, Object> claims, long seconds) {
    return signer.sign(claims, node.time().wallClock().instant(), seconds);
  }
}

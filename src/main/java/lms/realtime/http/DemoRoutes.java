package lms.realtime.http;

import io.jsonwebtoken.Jwts;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import javax.crypto.spec.SecretKeySpec;
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

  private final NodeContext node;
  private final SecretKeySpec key;

  DemoRoutes(NodeContext node) {
    this.node = node;
    this.key = new SecretKeySpec(node.demo().secret().getBytes(StandardCharsets.UTF_8), "HmacSHA256");
  }

  Route route() {
    return concat(
        pathSingleSlash(() -> getFromResource("web/index.html")),
        pathPrefix("demo", () -> concat(
            path("token", () -> get(() -> parameter("user", user -> parameterOptional("name", name ->
                parameterOptional("role", role -> extractRequest(req -> complete(token(user, name.orElse(user),
                    role.orElse("student"), req.getHeader("Host").map(h -> h.value()).orElse("localhost"))))))))),
            path("service-token", () -> get(() -> complete(Responses.json(StatusCodes.OK,
                "{\"token\":" + Json.quote(sign(Map.of("sub", "demo-backend", "roles", List.of("service")))) + "}")))))),
        getFromResourceDirectory("web"));
  }

  private org.apache.pekko.http.javadsl.model.HttpResponse token(String user, String name, String role, String host) {
    if (!RoomName.validUserId(user) || !(role.equals("student") || role.equals("instructor"))) {
      return Responses.badRequest("user must be an id (letters, digits, . _ - @) and role student or instructor");
    }
    String access = sign(Map.of("sub", user, "name", name, "courses", Map.of(COURSE, role)));
    String live = sign(Map.of("sub", user, "room", LIVE_ROOM, "role", role));
    return Responses.json(StatusCodes.OK, "{\"token\":" + Json.quote(access)
        + ",\"liveToken\":" + Json.quote(live)
        + ",\"userId\":" + Json.quote(user)
        + ",\"name\":" + Json.quote(name)
        + ",\"role\":" + Json.quote(role)
        + ",\"courseRoom\":" + Json.quote("course:" + COURSE)
        + ",\"liveRoom\":" + Json.quote(LIVE_ROOM)
        + ",\"wsUrl\":" + Json.quote("ws://" + host + "/ws") + "}");
  }

  private String sign(Map<String, Object> claims) {
    Instant now = Instant.now();
    return Jwts.builder()
        .claims(claims)
        .issuedAt(Date.from(now))
        .expiration(Date.from(now.plusSeconds(TOKEN_SECONDS)))
        .signWith(key, Jwts.SIG.HS256)
        .compact();
  }
}

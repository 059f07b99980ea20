package lms.realtime.session;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import lms.realtime.auth.Identity;
import lms.realtime.auth.TokenException;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.slf4j.LoggerFactory;

/**
 * The handshake of contract §2, the same on every transport and for every kind of connection (a
 * WebSocket, or the HTTP fallback of contract §10: an SSE stream or long polls), answered before
 * any upgrade or stream, in this order: the token (401), the Origin (403), the request's own shape
 * (400: a WebSocket upgrade on {@code /ws}, a known {@code mode} on {@code /sse}), the per-IP limit
 * (429), the per-user limit (429, asked of the user entity, so it holds across the cluster, for
 * every kind together). Only then does the transport answer 101 (or 200); the connection's
 * {@link Connection} has queued {@code welcome} by then.
 */
public final class Handshake {
  private static final byte[] ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11".getBytes(StandardCharsets.US_ASCII);

  /** One HTTP request as a transport parsed it; header names are case-insensitive. */
  public interface Request {
    /** The first value of a header, or null. */
    String header(String name);

    /** Every value of a header, one per header line, in order. */
    List<String> headers(String name);

    /** The value of a cookie, or null. */
    String cookie(String name);

    /** The first value of a query parameter, or null. */
    String query(String name);

    /** The direct peer's IP address, as text. */
    String peerAddress();
  }

  /** What carries a connection: a WebSocket, or the HTTP fallback's stream or long polls. */
  public enum Kind {
    WEBSOCKET("websocket"),
    SSE("sse"),
    POLL("poll");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    /** As metrics and outboxes name it. */
    public String label() {
      return label;
    }

    /**
     * The fallback kind a {@code GET /sse} asks for with its {@code mode} query parameter: none, the
     * stream; {@code poll}, long polls; null for a mode there is none of (refused 400).
     */
    public static Kind ofMode(String mode) {
      return mode == null ? SSE : mode.equals("poll") ? POLL : null;
    }
  }

  /** How a handshake ends. */
  public sealed interface Outcome {}

  /** Refused before any upgrade: the HTTP status, its JSON body, and {@code Retry-After} seconds (0: none). */
  public record Refused(int status, String body, int retryAfterSeconds) implements Outcome {}

  /**
   * Admitted by the user entity: the transport answers 101 (or 200) and attaches the connection; it
   * passes the pings it answers itself through {@code gate}. A fallback connection's client POSTs
   * its frames to {@link #postUrl} with {@code postToken} (both null for a WebSocket).
   */
  public record Admitted(ActorRef<MemberInbox> connection, Outbox outbox, Gate gate, String connectionId,
      ConnectionSecret postToken) implements Outcome {}

  /** Where a fallback connection's client POSTs its frames (contract §10's {@code postUrl}). */
  public static String postUrl(String connectionId) {
    return "/sse/" + connectionId;
  }

  /**
   * Connection ids: a random prefix per process and a counter, unique on this node (actor names) and
   * across nodes in practice; cheaper than a random UUID per socket.
   */
  private static final String NODE_PREFIX = Long.toHexString(new SecureRandom().nextLong() & 0xFFFFFFFFFFFFL) + "-";
  private static final AtomicLong COUNTER = new AtomicLong();

  /**
   * A page on a refused origin sees only a failed socket (1006) and retries, and nothing on the
   * engine's side said why: each refusal is logged, at most one line every 10 s (with how many
   * were not logged), and counted ({@code lms_handshakes_refused_total{reason="origin"}}).
   */
  private static final RateLimitedLog ORIGIN_REFUSALS = new RateLimitedLog(
      LoggerFactory.getLogger(Handshake.class), 10_000,
      "refused a socket from origin {} (not in LMS_ALLOWED_ORIGINS); {} more refused since the last line");

  private final NodeContext node;

  public Handshake(NodeContext node) {
    this.node = node;
  }

  /**
   * Decides a {@code GET /ws} ({@link Kind#WEBSOCKET}) or a {@code GET /sse} (its {@link Kind}, null
   * for a mode there is none of). {@code newOutbox} makes the connection's outgoing side, only once
   * the local checks have passed; the transport attaches it to the connection on {@link Admitted}.
   */
  public CompletionStage<Outcome> open(Request request, Kind kind, Supplier<Outbox> newOutbox) {
    Identity identity;
    try {
      identity = identity(request);
    } catch (TokenException e) {
      return refuse("unauthorized", 401, ErrorCodes.UNAUTHORIZED, e.getMessage());
    }
    if (!RoomName.validUserId(identity.userId())) {
      return refuse("unauthorized", 401, ErrorCodes.UNAUTHORIZED, "sub is not a usable user id");
    }
    List<String> origins = request.headers("Origin");
    if (origins.size() > 1) {
      // RFC 6454 §7.3: never more than one; which of them would the page be? (only the first was read)
      ORIGIN_REFUSALS.note(String.join(" and ", origins));
      return refuse("origin", 403, ErrorCodes.ORIGIN_NOT_ALLOWED, "more than one Origin header");
    }
    String origin = origins.isEmpty() ? null : origins.get(0);
    if (origin != null && !originAllowed(origin, request)) {
      ORIGIN_REFUSALS.note(origin);
      return refuse("origin", 403, ErrorCodes.ORIGIN_NOT_ALLOWED, originRefusal(origin));
    }
    if (kind == null) {
      return refuse("bad_mode", 400, ErrorCodes.BAD_REQUEST, "mode is poll, or absent for the event stream");
    }
    if (kind == Kind.WEBSOCKET && !isWebSocketUpgrade(request)) {
      return refuse("not_websocket", 400, ErrorCodes.BAD_REQUEST, "not a WebSocket upgrade");
    }
    String ip = ClientAddress.of(request.peerAddress(), request.headers("X-Forwarded-For"), node.settings().http().trustedProxies());
    if (!node.perIp().tryAcquire(ip, node.settings().limits().maxConnectionsPerIp())) {
      return tooMany("per_ip_limit", "at most " + node.settings().limits().maxConnectionsPerIp() + " connections from one address");
    }
    Outbox outbox;
    Gate gate = new Gate(node.settings(), node.time());
    CompletableFuture<Boolean> admitted = new CompletableFuture<>();
    ActorRef<MemberInbox> connection;
    String connectionId = "c-" + NODE_PREFIX + Long.toHexString(COUNTER.incrementAndGet());
    ConnectionSecret postToken = kind == Kind.WEBSOCKET ? null : ConnectionSecret.random();
    int heartbeat = node.settings().heartbeatSeconds();
    String welcome = postToken == null
        ? ServerFrames.welcome(connectionId, identity.userId(), heartbeat)
        : ServerFrames.welcome(connectionId, identity.userId(), heartbeat, postUrl(connectionId), postToken.text());
    try {
      outbox = newOutbox.get();
      // the outbox holds it until the transport attaches, ahead of anything an entity sends before
      outbox.welcome(Frame.text(welcome));
      connection = node.system().systemActorOf(
          Connection.create(node, identity, outbox, gate, ip, admitted), connectionId, Props.empty());
    } catch (RuntimeException e) {
      node.perIp().release(ip);
      throw e;
    }
    return admitted.handle((ok, failure) -> {
      if (failure != null) {
        node.metrics().handshakeRefused("unavailable");
        return new Refused(503, error(ErrorCodes.UNAVAILABLE, "the user registry did not answer in time"), 0);
      }
      if (!ok) {
        return tooManyNow("per_user_limit", "at most " + node.settings().limits().maxConnectionsPerUser() + " connections per user");
      }
      node.metrics().handshakeAdmitted(kind.label());
      return new Admitted(connection, outbox, gate, connectionId, postToken);
    });
  }

  /**
   * The first valid token of: the Authorization header, the cookie, the {@code token} query
   * parameter. A bad one does not hide a good one behind it (an expired cookie and a fresh query
   * token: the query token); when none is valid, the first one's reason is the answer. The cookie is
   * not read at all when any origin may open a socket ({@code *}): a cookie-borne token would let
   * any site open sockets as the user (cross-site WebSocket hijacking).
   */
  private Identity identity(Request request) throws TokenException {
    TokenException first = null;
    for (String token : tokens(request)) {
      try {
        requireWithinBound(token, node.settings().jwt().maxTokenBytes());
        return node.verifier().verifyAccess(token);
      } catch (TokenException e) {
        first = first == null ? e : first;
      }
    }
    throw first != null ? first : new TokenException("no token");
  }

  /**
   * {@code lms.jwt.max-token-bytes}, one bound for every token a socket presents (at the handshake,
   * in a {@code refresh}, a room token in a {@code join}): a longer one is refused before it is parsed.
   */
  static void requireWithinBound(String token, int maxTokenBytes) throws TokenException {
    if (token.length() > maxTokenBytes) {
      throw new TokenException("token longer than " + maxTokenBytes + " bytes");
    }
  }

  private List<String> tokens(Request request) {
    List<String> tokens = new ArrayList<>(1);
    String bearer = TokenVerifier.bearer(request.header("Authorization"));
    if (bearer != null) {
      tokens.add(bearer);
    }
    if (cookiesRead()) {
      String cookie = request.cookie(node.settings().jwt().cookieName());
      if (cookie != null) {
        tokens.add(cookie);
      }
    }
    String query = request.query("token");
    if (query != null) {
      tokens.add(query);
    }
    return tokens;
  }

  private boolean originAllowed(String origin, Request request) {
    return originAllowed(origin, request.header("Host"));
  }

  /**
   * The allow-list; in demo mode the engine's own pages (same origin as the request, whose
   * {@code Host} is given) too. The fallback's CORS answers follow the same rule.
   */
  public boolean originAllowed(String origin, String host) {
    if (node.settings().originAllowed(origin)) {
      return true;
    }
    return node.isDemo() && host != null && (origin.equals("http://" + host) || origin.equals("https://" + host));
  }

  /** Why a request from this origin is refused (403 {@code origin_not_allowed}). */
  public static String originRefusal(String origin) {
    return "origin " + origin + " is not allowed: list it in LMS_ALLOWED_ORIGINS (comma-separated)";
  }

  /**
   * Whether a browser's cookie can carry the access token here, so cross-site answers may allow
   * credentials: not when any origin is allowed ({@code *}), where the cookie is not read.
   */
  public boolean cookiesRead() {
    return !node.settings().allowedOrigins().contains("*");
  }

  /**
   * RFC 6455 §4.2.1, as pekko-http recognises an upgrade: {@code Upgrade: websocket}, {@code
   * Connection: upgrade}, version 13 and a key of 16 bytes in base64.
   */
  static boolean isWebSocketUpgrade(Request request) {
    String key = request.header("Sec-WebSocket-Key");
    return hasToken(request.headers("Upgrade"), "websocket")
        && hasToken(request.headers("Connection"), "upgrade")
        && "13".equals(trim(request.header("Sec-WebSocket-Version")))
        && key != null && decodesTo16Bytes(key.trim());
  }

  private static boolean hasToken(List<String> values, String token) {
    for (String value : values) {
      for (String part : value.split(",")) {
        if (part.trim().toLowerCase(Locale.ROOT).equals(token)) {
          return true;
        }
      }
    }
    return false;
  }

  private static boolean decodesTo16Bytes(String key) {
    try {
      return Base64.getDecoder().decode(key).length == 16;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static String trim(String s) {
    return s == null ? null : s.trim();
  }

  /** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
  public static String accept(String key) {
    try {
      MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
      sha1.update(key.trim().getBytes(StandardCharsets.US_ASCII));
      sha1.update(ACCEPT_GUID);
      return Base64.getEncoder().encodeToString(sha1.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-1 in this JVM", e);
    }
  }

  private CompletionStage<Outcome> refuse(String reason, int status, String error, String message) {
    node.metrics().handshakeRefused(reason);
    return CompletableFuture.completedFuture(new Refused(status, error(error, message), 0));
  }

  private CompletionStage<Outcome> tooMany(String reason, String message) {
    return CompletableFuture.completedFuture(tooManyNow(reason, message));
  }

  private Refused tooManyNow(String reason, String message) {
    node.metrics().handshakeRefused(reason);
    return new Refused(429, error(ErrorCodes.TOO_MANY_CONNECTIONS, message), node.settings().limits().retryAfterSeconds());
  }

  private static String error(String error, String message) {
    return Json.errorBody(error, message);
  }
}

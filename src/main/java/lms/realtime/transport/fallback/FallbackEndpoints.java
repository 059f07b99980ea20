package lms.realtime.transport.fallback;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.ConnectionSecret;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.transport.fallback.HttpAnswer.Header;

/**
 * The HTTP fallback of contract §10, what both transports share of it: the connections by id, the
 * POST side, the long polls, the CORS answers. A transport parses the requests, runs the
 * {@link Handshake} for {@code GET /sse}, carries a stream's bytes itself, and writes these answers.
 *
 * <p>POST and poll are decided in this order: an {@code Origin} not allowed (403
 * {@code origin_not_allowed}); no token (403 {@code forbidden}, whatever the id: nothing says which
 * ids exist); no such connection, or no longer (404 {@code not_found}); a wrong token (403
 * {@code forbidden}). Tokens are compared in constant time ({@link ConnectionSecret}).
 */
public final class FallbackEndpoints {
  /** The header a long-poll answer names the next poll in (contract §10). */
  public static final String POLL_URL = "Lms-Poll-Url";

  private final NodeContext node;
  private final Handshake handshake;
  private final FallbackLinks links;
  private final PostBody bodies;

  public FallbackEndpoints(NodeContext node, Handshake handshake) {
    this.node = node;
    this.handshake = handshake;
    this.links = new FallbackLinks(node.system(), node.settings());
    this.bodies = new PostBody(node.settings());
  }

  /** A long-poll connection's outgoing side, for the handshake. */
  public PollOutbox newPollOutbox() {
    return new PollOutbox(node.settings(), node.metrics(), node.time());
  }

  // ------------------------------------------------------------------ GET /sse

  /**
   * A fallback connection the handshake admitted: from now on its POSTs (and polls) reach it, until
   * its actor stops. For a long-poll connection, {@code firstPoll} is its answer to the
   * {@code GET /sse?mode=poll}: the frames so far, welcome first.
   */
  public void admitted(Handshake.Admitted admitted, String origin, String host, Consumer<HttpAnswer> firstPoll) {
    boolean polled = admitted.outbox() instanceof PollOutbox;
    FallbackLink link = new FallbackLink(admitted.connectionId(), admitted.connection(), admitted.postToken(),
        polled ? ConnectionSecret.random() : null, admitted.outbox(), admitted.gate());
    links.add(link);
    if (polled) {
      PollOutbox outbox = (PollOutbox) admitted.outbox();
      outbox.onCloseTaken(() -> link.connection.tell(Connection.SocketClosed.INSTANCE));
      // open before the client can read its welcome: a POST it sends then must find the actor open,
      // not attaching (which drops client frames)
      link.connection.tell(new Connection.SocketOpened(() -> {}));
      outbox.poll(0, false, (frames, next) -> firstPoll.accept(polled(link, frames, next, origin, host)));
    }
  }

  /** The headers of an event stream's 200 (contract §10), CORS included. */
  public List<Header> streamHeaders(String origin, String host) {
    List<Header> headers = cors(origin, host);
    headers.add(new Header("Cache-Control", "no-cache"));
    headers.add(new Header("X-Accel-Buffering", "no"));
    return headers;
  }

  /** A refused {@code GET /sse}: the handshake's answer, readable by an allowed page (CORS). */
  public HttpAnswer refused(Handshake.Refused refused, String origin, String host) {
    HttpAnswer answer = HttpAnswer.json(refused.status(), refused.body(), allowed(origin, host) ? cors(origin, host) : new ArrayList<>());
    return refused.retryAfterSeconds() > 0 ? answer.with("Retry-After", Integer.toString(refused.retryAfterSeconds())) : answer;
  }

  // ------------------------------------------------------------------ POST {postUrl}

  /** A POST of frames: 204 at once when they are the connection's; the answers come on its stream. */
  public HttpAnswer post(String connectionId, String authorization, String origin, String host, String body) {
    if (!allowed(origin, host)) {
      return originRefused(origin);
    }
    List<Header> cors = cors(origin, host);
    String presented = TokenVerifier.bearer(authorization);
    if (presented == null) {
      return HttpAnswer.error(403, ErrorCodes.FORBIDDEN, "no post token: Authorization: Bearer <postToken of the welcome>", cors);
    }
    FallbackLink link = links.get(connectionId);
    if (link == null) {
      return gone(cors);
    }
    if (!link.postToken.matches(presented)) {
      return HttpAnswer.error(403, ErrorCodes.FORBIDDEN, "wrong post token", cors);
    }
    if (!link.deliver(bodies.read(body), node.settings().limits().inboundInFlight(), node.metrics())) {
      return HttpAnswer.error(429, ErrorCodes.RATE_LIMITED, "too many POSTs not yet applied: wait for the answers", cors)
          .with("Retry-After", "1");
    }
    return HttpAnswer.empty(204, cors);
  }

  /** A POST body over {@code lms.fallback.max-post-bytes}: refused, nothing of it is applied. */
  public HttpAnswer tooLarge(String origin, String host) {
    return HttpAnswer.error(413, ErrorCodes.TOO_LARGE, "a POST body is at most " + node.settings().fallback().maxPostBytes() + " bytes",
        allowed(origin, host) ? cors(origin, host) : new ArrayList<>());
  }

  // ------------------------------------------------------------------ GET {Lms-Poll-Url}

  /**
   * A poll: answered (on any thread) with the frames after {@code from}, at once or when they come,
   * or with none after {@code lms.fallback.poll-wait}.
   */
  public void poll(String connectionId, String key, String from, String origin, String host, Consumer<HttpAnswer> answer) {
    if (!allowed(origin, host)) {
      answer.accept(originRefused(origin));
      return;
    }
    List<Header> cors = cors(origin, host);
    if (key == null) {
      answer.accept(HttpAnswer.error(403, ErrorCodes.FORBIDDEN, "no poll key: poll the Lms-Poll-Url of the last answer", cors));
      return;
    }
    FallbackLink link = links.get(connectionId);
    if (link == null) {
      answer.accept(gone(cors));
      return;
    }
    if (link.pollToken == null || !link.pollToken.matches(key)) {
      answer.accept(HttpAnswer.error(403, ErrorCodes.FORBIDDEN, "wrong poll key", cors));
      return;
    }
    long position;
    try {
      position = from == null ? 0 : Long.parseLong(from);
    } catch (NumberFormatException e) {
      answer.accept(HttpAnswer.error(400, ErrorCodes.BAD_REQUEST, "from is the position the last answer named", cors));
      return;
    }
    ((PollOutbox) link.outbox).poll(position, true,
        (frames, next) -> answer.accept(polled(link, frames, next, origin, host)));
  }

  /** A poll's 200: the frames, and where to poll next. */
  private HttpAnswer polled(FallbackLink link, byte[] frames, long next, String origin, String host) {
    List<Header> headers = cors(origin, host);
    headers.add(new Header("Cache-Control", "no-store"));
    headers.add(new Header(POLL_URL, Handshake.postUrl(link.id) + "/poll?key=" + link.pollToken.text() + "&from=" + next));
    return new HttpAnswer(200, HttpAnswer.JSON, frames, headers);
  }

  // ------------------------------------------------------------------ OPTIONS

  /** The CORS preflight of any fallback path: 204 for an allowed origin, 403 for another. */
  public HttpAnswer preflight(String origin, String host) {
    if (!allowed(origin, host)) {
      return originRefused(origin);
    }
    List<Header> headers = cors(origin, host);
    headers.add(new Header("Access-Control-Allow-Methods", "GET, POST"));
    headers.add(new Header("Access-Control-Allow-Headers", "Authorization, Content-Type"));
    headers.add(new Header("Access-Control-Max-Age", "600"));
    return HttpAnswer.empty(204, headers);
  }

  // ------------------------------------------------------------------ CORS

  /** No {@code Origin} (a server, an app) is allowed, as at the handshake. */
  private boolean allowed(String origin, String host) {
    return origin == null || handshake.originAllowed(origin, host);
  }

  /**
   * What lets a page of an allowed origin read an answer (and a long poll's next URL); credentials
   * too when the access token may come in a cookie. Nothing for a request without {@code Origin}.
   */
  private List<Header> cors(String origin, String host) {
    List<Header> headers = new ArrayList<>(8);
    if (origin != null) {
      headers.add(new Header("Access-Control-Allow-Origin", origin));
      headers.add(new Header("Vary", "Origin"));
      headers.add(new Header("Access-Control-Expose-Headers", POLL_URL + ", Retry-After"));
      if (handshake.cookiesRead()) {
        headers.add(new Header("Access-Control-Allow-Credentials", "true"));
      }
    }
    return headers;
  }

  private HttpAnswer originRefused(String origin) {
    return HttpAnswer.error(403, ErrorCodes.ORIGIN_NOT_ALLOWED, Handshake.originRefusal(origin), new ArrayList<>());
  }

  private static HttpAnswer gone(List<Header> cors) {
    return HttpAnswer.error(404, ErrorCodes.NOT_FOUND, "no such connection (it has ended): open a new one", cors);
  }
}

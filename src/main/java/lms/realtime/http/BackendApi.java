package lms.realtime.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import lms.realtime.auth.Identity;
import lms.realtime.auth.TokenException;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.room.Room;
import lms.realtime.session.NodeContext;
import lms.realtime.user.User;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The platform's calls into the engine (contract §6), authorised by a token with the {@code service}
 * role. Every body is checked whole before anything happens: a bad one is a 400 and changes nothing.
 */
final class BackendApi extends AllDirectives {
  private static final Logger LOG = LoggerFactory.getLogger(BackendApi.class);
  private final NodeContext node;

  BackendApi(NodeContext node) {
    this.node = node;
  }

  /** Routes below {@code /api/v1}. */
  Route route() {
    return extractRequest(request -> {
      HttpResponse denied = authorise(request);
      if (denied != null) {
        return complete(denied);
      }
      return concat(
          pathPrefix("rooms", () -> pathPrefix(roomName -> concat(
              path("events", () -> concat(
                  post(() -> body(b -> completeWithFuture(publish(roomName, b)))),
                  get(() -> parameterOptional("since", since -> parameterOptional("limit", limit ->
                      completeWithFuture(roomEvents(roomName, since.orElse(null), limit.orElse(null)))))))),
              path("presence", () -> get(() -> completeWithFuture(roomPresence(roomName)))),
              pathPrefix("members", () -> path(userId -> delete(() -> completeWithFuture(removeMember(roomName, userId)))))))),
          pathPrefix("users", () -> pathPrefix(userId -> concat(
              path("notifications", () -> concat(
                  post(() -> body(b -> completeWithFuture(notifyUser(userId, b)))),
                  get(() -> parameterOptional("since", since -> completeWithFuture(inbox(userId, since.orElse(null))))))),
              path("presence", () -> get(() -> completeWithFuture(userPresence(userId))))))),
          complete(Responses.error(StatusCodes.NOT_FOUND, ErrorCodes.NOT_FOUND, "no such API call")));
    });
  }

  private HttpResponse authorise(HttpRequest request) {
    String bearer = TokenVerifier.bearer(request.getHeader("Authorization").map(h -> h.value()).orElse(null));
    if (bearer == null) {
      return Responses.error(StatusCodes.UNAUTHORIZED, ErrorCodes.UNAUTHORIZED, "a service token is required (Authorization: Bearer)");
    }
    Identity who;
    try {
      who = node.verifier().verifyAccess(bearer);
    } catch (TokenException e) {
      return Responses.error(StatusCodes.UNAUTHORIZED, ErrorCodes.UNAUTHORIZED, e.getMessage());
    }
    if (!who.isService()) {
      return Responses.error(StatusCodes.FORBIDDEN, ErrorCodes.FORBIDDEN, "the token lacks the service role");
    }
    return null;
  }

  private Route body(Function<String, Route> inner) {
    return entity(Unmarshaller.entityToString(), inner);
  }

  /** The fields of an event body, or the 400 that it earns. */
  private record EventBody(String event, String data, String id, boolean durable, HttpResponse error) {
    EventBody(HttpResponse error) {
      this(null, null, null, false, error);
    }
  }

  private EventBody readEventBody(String body, boolean allowId) {
    if (Json.utf8Length(body) > node.settings().maxBodyBytes()) {
      return new EventBody(Responses.error(StatusCodes.BAD_REQUEST, ErrorCodes.TOO_LARGE,
          "body larger than " + node.settings().maxBodyBytes() + " bytes"));
    }
    JsonNode json;
    try {
      json = node.json().parse(body);
    } catch (JsonProcessingException e) {
      return new EventBody(Responses.badRequest("malformed JSON"));
    }
    if (!json.isObject()) {
      return new EventBody(Responses.badRequest("the body is a JSON object"));
    }
    String event;
    try {
      event = ClientFrame.eventName(json, null);
    } catch (ClientFrame.Invalid invalid) {
      return new EventBody(Responses.badRequest(invalid.getMessage()));
    }
    JsonNode id = json.get("id");
    if (allowId && id != null && !id.isNull() && (!id.isTextual() || id.asText().isEmpty() || id.asText().length() > ClientFrame.MAX_ID)) {
      return new EventBody(Responses.badRequest(
          "'id' must be a non-empty string of at most " + ClientFrame.MAX_ID + " characters"));
    }
    JsonNode durable = json.get("durable");
    if (!allowId && durable != null && !durable.isBoolean()) {
      return new EventBody(Responses.badRequest("'durable' must be true or false"));
    }
    return new EventBody(event, ClientFrame.data(json),
        allowId && id != null && id.isTextual() ? id.asText() : null, durable == null || durable.asBoolean(), null);
  }

  private CompletionStage<HttpResponse> publish(String room, String body) {
    if (RoomName.parse(room) == null) {
      return done(Responses.badRequest("not a room name: " + room));
    }
    EventBody e = readEventBody(body, true);
    if (e.error() != null) {
      return done(e.error());
    }
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.Published>ask(replyTo -> new Room.Publish(e.event(), e.data(), "backend", e.id(), replyTo),
            node.settings().askTimeout())
        .thenApply(p -> p.unavailable() != null ? Responses.unavailable(p.unavailable()) : Responses.json(StatusCodes.ACCEPTED,
            "{\"room\":" + Json.quote(p.room()) + ",\"seq\":" + p.seq() + ",\"epoch\":" + Json.quote(p.epoch()) + "}"))
        .exceptionally(this::failed);
  }

  private CompletionStage<HttpResponse> notifyUser(String userId, String body) {
    if (!RoomName.validUserId(userId)) {
      return done(Responses.badRequest("not a user id: " + userId));
    }
    EventBody e = readEventBody(body, false);
    if (e.error() != null) {
      return done(e.error());
    }
    // Kept (the default): appended to the user's own stream, whose sockets get it numbered (contract §9).
    CompletionStage<User.Delivered> delivered = e.durable()
        ? node.sharding().entityRefFor(Room.KEY, RoomName.Kind.USER.prefix() + ":" + userId)
            .ask(replyTo -> new Room.Notify(e.event(), e.data(), replyTo), node.settings().askTimeout())
        : node.sharding().entityRefFor(User.KEY, userId)
            .ask(replyTo -> new User.Notify(ServerFrames.notification(e.event(), e.data(), System.currentTimeMillis()), replyTo),
                node.settings().askTimeout());
    return delivered
        .thenApply(d -> {
          if (d.unavailable() != null) {
            return Responses.unavailable(d.unavailable());
          }
          node.metrics().notificationSent();
          return Responses.json(StatusCodes.ACCEPTED, "{\"delivered\":" + d.delivered()
              + (d.epoch() == null ? "" : ",\"seq\":" + d.seq() + ",\"epoch\":" + Json.quote(d.epoch())) + "}");
        })
        .exceptionally(this::failed);
  }

  /** The most events one read of a room's stream answers, and the default. */
  static final int MAX_READ = 1000;
  static final int DEFAULT_READ = 100;

  /** A stream position {@code EPOCH:SEQ} as the frames give them, or the 400 a bad one earns. */
  private record Since(String epoch, long seq, HttpResponse error) {
    static final Since NONE = new Since(null, 0, null);

    static Since parse(String since) {
      if (since == null) {
        return NONE;
      }
      int colon = since.lastIndexOf(':');
      long seq = -1;
      try {
        seq = colon <= 0 ? -1 : Long.parseLong(since.substring(colon + 1));
      } catch (NumberFormatException ex) {
        // stays -1
      }
      return seq < 0 ? new Since(null, 0, Responses.badRequest("'since' is EPOCH:SEQ, as the stream's frames give them"))
          : new Since(since.substring(0, colon), seq, null);
    }
  }

  /** What a room's stream holds after {@code since} (or all it keeps), as the room answers it. */
  private CompletionStage<Room.StreamRead> readStream(String room, Since since) {
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.StreamRead>ask(replyTo -> new Room.ReadStream(since.epoch(), since.seq(), replyTo), node.settings().askTimeout());
  }

  /**
   * A room's recent events: the frames its stream keeps after {@code since} ({@code EPOCH:SEQ}), or
   * all it keeps when it cannot cover that position or none is given, the newest {@code limit} of
   * them, oldest first. {@code recovered}: every frame after {@code since} is in the answer. For a
   * page that opens (or reloads) and shows what happened before it joined.
   */
  private CompletionStage<HttpResponse> roomEvents(String room, String sinceText, String limitText) {
    if (RoomName.parse(room) == null) {
      return done(Responses.badRequest("not a room name: " + room));
    }
    Since since = Since.parse(sinceText);
    if (since.error() != null) {
      return done(since.error());
    }
    int limit;
    try {
      limit = limitText == null ? DEFAULT_READ : Integer.parseInt(limitText);
    } catch (NumberFormatException ex) {
      limit = 0;
    }
    if (limit < 1 || limit > MAX_READ) {
      return done(Responses.badRequest("'limit' is a whole number from 1 to " + MAX_READ));
    }
    int most = limit;
    return readStream(room, since)
        .thenApply(read -> {
          int kept = read.frames().size();
          boolean cut = kept > most;
          List<String> frames = cut ? read.frames().subList(kept - most, kept) : read.frames();
          return Responses.json(StatusCodes.OK, "{\"room\":" + Json.quote(read.room()) + ",\"epoch\":" + Json.quote(read.epoch())
              + ",\"seq\":" + read.seq() + ",\"recovered\":" + (sinceText != null && read.complete() && !cut)
              + ",\"events\":[" + String.join(",", frames) + "]}");
        })
        .exceptionally(this::failed);
  }

  /**
   * A user's inbox: the notifications of their stream after {@code since} ({@code EPOCH:SEQ}, as a
   * device last saw it), or all the stream keeps when it cannot cover that position or none is
   * given ({@code recovered} says which); {@code read}: the seqs that a device marked read since
   * (events {@code notification.read} with {@code data.seq} in the same stream).
   */
  private CompletionStage<HttpResponse> inbox(String userId, String sinceText) {
    if (!RoomName.validUserId(userId)) {
      return done(Responses.badRequest("not a user id: " + userId));
    }
    Since since = Since.parse(sinceText);
    if (since.error() != null) {
      return done(since.error());
    }
    return readStream(RoomName.Kind.USER.prefix() + ":" + userId, since)
        .thenApply(read -> {
          List<String> notifications = new ArrayList<>();
          List<String> readSeqs = new ArrayList<>();
          for (String frame : read.frames()) {
            JsonNode f;
            try {
              f = node.json().parse(frame);
            } catch (JsonProcessingException ex) {
              continue; // the engine's own frames: always JSON
            }
            if ("notification".equals(f.path("type").asText())) {
              notifications.add(frame);
            } else if ("notification.read".equals(f.path("event").asText()) && f.path("data").path("seq").canConvertToLong()) {
              readSeqs.add(Long.toString(f.path("data").path("seq").asLong()));
            }
          }
          return Responses.json(StatusCodes.OK, "{\"userId\":" + Json.quote(userId) + ",\"epoch\":" + Json.quote(read.epoch())
              + ",\"seq\":" + read.seq() + ",\"recovered\":" + (sinceText != null && read.complete())
              + ",\"notifications\":[" + String.join(",", notifications) + "],\"read\":[" + String.join(",", readSeqs) + "]}");
        })
        .exceptionally(this::failed);
  }

  private CompletionStage<HttpResponse> roomPresence(String room) {
    if (RoomName.parse(room) == null) {
      return done(Responses.badRequest("not a room name: " + room));
    }
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.PresenceList>ask(Room.GetPresence::new, node.settings().askTimeout())
        .thenApply(list -> {
          List<String> users = new ArrayList<>(list.users().size());
          for (Room.PresenceUser u : list.users()) {
            users.add(ServerFrames.presenceUser(u.userId(), u.name(), u.role(), u.connections()));
          }
          return Responses.json(StatusCodes.OK,
              "{\"room\":" + Json.quote(list.room()) + ",\"users\":[" + String.join(",", users) + "]}");
        })
        .exceptionally(this::failed);
  }

  private CompletionStage<HttpResponse> userPresence(String userId) {
    if (!RoomName.validUserId(userId)) {
      return done(Responses.badRequest("not a user id: " + userId));
    }
    return node.sharding().entityRefFor(User.KEY, userId)
        .<User.UserPresence>ask(User.GetPresence::new, node.settings().askTimeout())
        .thenApply(p -> Responses.json(StatusCodes.OK, "{\"userId\":" + Json.quote(p.userId())
            + ",\"online\":" + p.online() + ",\"connections\":" + p.connections() + "}"))
        .exceptionally(this::failed);
  }

  private CompletionStage<HttpResponse> removeMember(String room, String userId) {
    if (RoomName.parse(room) == null || !RoomName.validUserId(userId)) {
      return done(Responses.badRequest("not a room name and user id: " + room + ", " + userId));
    }
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.Removed>ask(replyTo -> new Room.RemoveUser(userId, replyTo), node.settings().askTimeout())
        .thenApply(r -> r.unavailable() != null ? Responses.unavailable(r.unavailable())
            : Responses.json(StatusCodes.OK, "{\"removed\":" + r.removed() + "}"))
        .exceptionally(this::failed);
  }

  /**
   * A request whose answer failed. Only a timeout (an entity that did not answer: moving, starting,
   * overloaded) is a 503 the caller should retry; anything else is a bug, answered 500 and logged
   * with its cause. Both are counted (lms_http_failures_total{reason}).
   */
  HttpResponse failed(Throwable failure) {
    Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    if (cause instanceof TimeoutException) {
      node.metrics().httpFailed("timeout");
      return Responses.unavailable("the engine did not answer in time; retry");
    }
    node.metrics().httpFailed("internal");
    LOG.error("backend request failed", cause);
    return Responses.error(StatusCodes.INTERNAL_SERVER_ERROR, ErrorCodes.INTERNAL, "the request failed: " + cause.getClass().getSimpleName());
  }

  private static CompletionStage<HttpResponse> done(HttpResponse response) {
    return CompletableFuture.completedFuture(response);
  }
}

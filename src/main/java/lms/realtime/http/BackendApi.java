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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The platform's calls into the engine (contract §6), authorised by a token with the {@code service}
 * role. Every body is checked whole before anything happens: a bad one is a 400 and changes nothing.
 */
final class BackendApi extends AllDirectives {
  private static final Logger LOG = LoggerFactory.getLogger(BackendApi.class);
  private final NodeContext node;
  private final ServiceAuth auth;
  private final Publishing publishing;

  BackendApi(NodeContext node, ServiceAuth auth, Publishing publishing) {
    this.node = node;
    this.auth = auth;
    this.publishing = publishing;
  }

  private static CompletionStage<HttpResponse> answer(CompletionStage<Publishing.Result> result) {
    return result.thenApply(r -> Responses.json(StatusCodes.get(r.status()), r.body()));
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
                  post(() -> body(false, b -> completeWithFuture(answer(publishing.event(roomName, b))))),
                  get(() -> parameterOptional("since", since -> parameterOptional("limit", limit ->
                      completeWithFuture(roomEvents(roomName, since.orElse(null), limit.orElse(null)))))))),
              path("presence", () -> get(() -> completeWithFuture(roomPresence(roomName)))),
              pathPrefix("members", () -> path(userId -> delete(() -> completeWithFuture(removeMember(roomName, userId)))))))),
          pathPrefix("users", () -> pathPrefix(userId -> concat(
              path("notifications", () -> concat(
                  post(() -> body(false, b -> completeWithFuture(answer(publishing.notification(userId, b))))),
                  get(() -> parameterOptional("since", since -> completeWithFuture(inbox(userId, since.orElse(null))))))),
              path("presence", () -> get(() -> completeWithFuture(userPresence(userId))))))),
          path("batch", () -> post(() -> body(true, b -> completeWithFuture(answer(publishing.batch(b)))))),
          complete(Responses.error(StatusCodes.NOT_FOUND, ErrorCodes.NOT_FOUND, "no such API call")));
    });
  }

  private HttpResponse authorise(HttpRequest request) {
    Publishing.Result refused = auth.refusal(request.getHeader("Authorization").map(h -> h.value()).orElse(null));
    return refused == null ? null : Responses.json(StatusCodes.get(refused.status()), refused.body());
  }

  /**
   * The request's body as text, read up to its bound: {@code lms.http.max-batch-bytes} for a batch
   * (over it: 413), {@code lms.http.max-body-bytes} otherwise (over it: 400), both {@code too_large},
   * as the netty transport answers them.
   */
  private Route body(boolean batch, Function<String, Route> inner) {
    int max = batch ? node.settings().maxBatchBytes() : node.settings().maxBodyBytes();
    long timeout = node.settings().internals().routeResponseTimeout().toMillis();
    HttpResponse tooLarge = Responses.error(batch ? StatusCodes.PAYLOAD_TOO_LARGE : StatusCodes.BAD_REQUEST, ErrorCodes.TOO_LARGE,
        (batch ? "a batch body is at most " : "body larger than ") + max + " bytes");
    return extractRequestEntity(entity -> {
      // a declared length over the bound is refused before reading; a chunked body, as it passes it
      if (entity.getContentLengthOption().orElse(0L) > max) {
        return complete(tooLarge);
      }
      return extractMaterializer(mat -> onComplete(entity.withSizeLimit(max).toStrict(timeout, mat), read -> read.isSuccess()
          ? inner.apply(read.get().getData().utf8String())
          : complete(Responses.isTooLarge(read.failed().get()) ? tooLarge
              : Responses.badRequest("the body could not be read: " + read.failed().get().getMessage()))));
    });
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
        .<Room.Removal>ask(replyTo -> new Room.RemoveUser(userId, replyTo), node.settings().askTimeout())
        .thenApply(r -> r instanceof Room.Removed removed
            ? Responses.json(StatusCodes.OK, "{\"removed\":" + removed.removed() + "}")
            : Responses.unavailable(((Room.Unavailable) r).message()))
        .exceptionally(this::failed);
  }

  /** A request whose answer failed: 503 for a timeout, 500 for a bug ({@link Publishing#failed}). */
  HttpResponse failed(Throwable failure) {
    Publishing.Result r = publishing.failed(failure);
    return Responses.json(StatusCodes.get(r.status()), r.body());
  }

  private static CompletionStage<HttpResponse> done(HttpResponse response) {
    return CompletableFuture.completedFuture(response);
  }
}

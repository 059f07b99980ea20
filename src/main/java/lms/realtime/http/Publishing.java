package lms.realtime.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import lms.realtime.protocol.Json;
import lms.realtime.protocol.RoomName;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.room.Room;
import lms.realtime.session.NodeContext;
import lms.realtime.user.User;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend's writes (contract §6 and §10): an event into a room, a notification to a user, and
 * a batch of both. One path serves the three: a single call is a batch of one item, answered with
 * that item's status and body.
 *
 * <p>A batch ({@code POST /api/v1/batch}) holds up to {@code lms.http.max-batch-items} items and
 * answers one result per item, in item order. A body that is not a batch (not an object with 1 to
 * max items, or over {@code lms.http.max-batch-bytes}) is refused whole and publishes nothing; past
 * that, items are independent: one that fails on its own (a bad room name, a bad event, a room whose
 * journal is down) changes nothing for the others. The items that go to one room (room items naming
 * it, and a user's kept notifications, which are its {@code user:} room's) travel as one
 * {@link Room.Append}, in item order: the room numbers them in that order, and a grade posted for 300
 * students is 300 room messages whose journal writes share the node's database commits.
 */
public final class Publishing {
  /** An answer: its HTTP status and the JSON body of a single call (a batch item adds the status to it). */
  public record Result(int status, String body) {
    /** The batch item form: {@code {"status":N, ...the single call's body}}. */
    String asItem() {
      return "{\"status\":" + status + "," + body.substring(1);
    }

    public static Result of(ApiError error) {
      return new Result(error.status(), error.body());
    }
  }

  /** One item as read: the room it goes to (and its user, for a notification), its body, or the 400 it earns. */
  private record Item(String room, String user, EventBody body, Result refused) {}

  private static final Logger LOG = LoggerFactory.getLogger(Publishing.class);

  private final NodeContext node;

  Publishing(NodeContext node) {
    this.node = node;
  }

  /** {@code POST /api/v1/rooms/{room}/events}. */
  public CompletionStage<Result> event(String room, String body) {
    if (RoomName.parse(room) == null) {
      return done(badRequest("not a room name: " + room));
    }
    return single(body, json -> item(room, null, json));
  }

  /** {@code POST /api/v1/users/{userId}/notifications}. */
  public CompletionStage<Result> notification(String userId, String body) {
    if (!RoomName.validUserId(userId)) {
      return done(badRequest("not a user id: " + userId));
    }
    return single(body, json -> item(null, userId, json));
  }

  private CompletionStage<Result> single(String body, Function<JsonNode, Item> read) {
    int max = node.settings().http().maxBodyBytes();
    if (Json.utf8Length(body) > max) {
      return done(Result.of(ApiError.tooLarge(400, "body larger than " + max + " bytes")));
    }
    JsonNode json;
    try {
      json = node.json().parse(body);
    } catch (JsonProcessingException e) {
      return done(badRequest("malformed JSON"));
    }
    Result[] result = new Result[1];
    return publish(List.of(read.apply(json)), result).thenApply(all -> result[0]);
  }

  /** {@code POST /api/v1/batch}: 200 with a result per item, or the 400/413 of a body that is no batch. */
  public CompletionStage<Result> batch(String body) {
    int maxBytes = node.settings().http().maxBatchBytes();
    if (Json.utf8Length(body) > maxBytes) {
      return done(Result.of(ApiError.tooLarge(413, "a batch body is at most " + maxBytes + " bytes")));
    }
    JsonNode json;
    try {
      json = node.json().parse(body);
    } catch (JsonProcessingException e) {
      return done(badRequest("malformed JSON"));
    }
    JsonNode items = json.isObject() ? json.get("items") : null;
    int max = node.settings().http().maxBatchItems();
    if (items == null || !items.isArray() || items.isEmpty() || items.size() > max) {
      return done(badRequest("the body is {\"items\": [...]} with 1 to " + max + " items"));
    }
    List<Item> read = new ArrayList<>(items.size());
    for (JsonNode item : items) {
      read.add(batchItem(item));
    }
    Result[] results = new Result[read.size()];
    return publish(read, results).thenApply(all -> {
      StringBuilder b = new StringBuilder(64 * results.length).append("{\"results\":[");
      for (int i = 0; i < results.length; i++) {
        b.append(i == 0 ? "" : ",").append(results[i].asItem());
      }
      return new Result(200, b.append("]}").toString());
    });
  }

  /** Sends every item where it goes (a room's items as one message, in item order); done when each has its result. */
  private CompletableFuture<Void> publish(List<Item> items, Result[] results) {
    List<CompletableFuture<Void>> pending = new ArrayList<>();
    Map<String, List<Integer>> byRoom = new LinkedHashMap<>();
    for (int i = 0; i < items.size(); i++) {
      Item item = items.get(i);
      if (item.refused() != null) {
        results[i] = item.refused();
      } else if (item.user() != null && !item.body().durable()) {
        pending.add(notifyNow(item, i, results));
      } else {
        byRoom.computeIfAbsent(item.room(), r -> new ArrayList<>()).add(i);
      }
    }
    byRoom.forEach((room, indexes) -> pending.add(append(room, indexes, items, results)));
    return pending.size() == 1 ? pending.get(0) : CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new));
  }

  private Item batchItem(JsonNode item) {
    if (!item.isObject()) {
      return refused("an item is a JSON object");
    }
    JsonNode room = item.get("room");
    JsonNode user = item.get("user");
    if ((room == null) == (user == null)) {
      return refused("an item names either a \"room\" or a \"user\"");
    }
    if (room != null) {
      return room.isTextual() && RoomName.parse(room.asText()) != null
          ? item(room.asText(), null, item) : refused("not a room name: " + room);
    }
    return user.isTextual() && RoomName.validUserId(user.asText())
        ? item(null, user.asText(), item) : refused("not a user id: " + user);
  }

  /** A room event ({@code user} null) or a notification for {@code user}, with its body read. */
  private static Item item(String room, String user, JsonNode json) {
    try {
      EventBody body = EventBody.read(json, user != null);
      return new Item(user == null ? room : RoomName.user(user).value(), user, body, null);
    } catch (EventBody.Invalid e) {
      return refused(e.getMessage());
    }
  }

  private static Item refused(String message) {
    return new Item(null, null, null, badRequest(message));
  }

  /** The items of one room as one message; each gets its result when the room answers (503 when it does not in time). */
  private CompletableFuture<Void> append(String room, List<Integer> indexes, List<Item> items, Result[] results) {
    List<Room.Item> toRoom = new ArrayList<>(indexes.size());
    for (int i : indexes) {
      EventBody b = items.get(i).body();
      toRoom.add(new Room.Item(items.get(i).user() != null, b.event(), b.data(), b.id()));
    }
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.Appended>ask(replyTo -> new Room.Append(toRoom, replyTo), node.settings().http().askTimeout())
        .toCompletableFuture()
        .handle((appended, failure) -> {
          for (int k = 0; k < indexes.size(); k++) {
            int i = indexes.get(k);
            results[i] = failure != null ? Result.of(failed(failure))
                : result(items.get(i), appended.room(), appended.epoch(), appended.outcomes().get(k));
          }
          return null;
        });
  }

  private Result result(Item item, String room, String epoch, Room.Outcome outcome) {
    if (outcome instanceof Room.Unavailable u) {
      return Result.of(ApiError.unavailable(u.message()));
    }
    Room.Stored stored = (Room.Stored) outcome;
    if (item.user() == null) {
      return new Result(202, "{\"room\":" + Json.quote(room) + ",\"seq\":" + stored.seq() + ",\"epoch\":" + Json.quote(epoch) + "}");
    }
    node.metrics().notificationSent();
    return new Result(202, "{\"delivered\":" + stored.delivered() + ",\"seq\":" + stored.seq() + ",\"epoch\":" + Json.quote(epoch) + "}");
  }

  /** A notification that is not kept: straight to the user's sockets, through the user entity. */
  private CompletableFuture<Void> notifyNow(Item item, int i, Result[] results) {
    String frame = ServerFrames.notification(item.body().event(), item.body().data(), node.time().wallClock().millis());
    return node.sharding().entityRefFor(User.KEY, item.user())
        .<User.Delivered>ask(replyTo -> new User.Notify(frame, replyTo), node.settings().http().askTimeout())
        .toCompletableFuture()
        .handle((delivered, failure) -> {
          if (failure == null) {
            node.metrics().notificationSent();
          }
          results[i] = failure != null ? Result.of(failed(failure)) : new Result(202, "{\"delivered\":" + delivered.delivered() + "}");
          return null;
        });
  }

  /**
   * A call (or a batch item) whose answer failed. Only a timeout (an entity that did not answer:
   * moving, starting, overloaded) is a 503 the caller should retry (with its id); anything else is a
   * bug, answered 500 and logged with its cause. Both are counted (lms_http_failures_total{reason}).
   */
  public ApiError failed(Throwable failure) {
    Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    if (cause instanceof TimeoutException) {
      node.metrics().httpFailed("timeout");
      return ApiError.unavailable("the engine did not answer in time; retry");
    }
    node.metrics().httpFailed("internal");
    LOG.error("backend request failed", cause);
    return ApiError.internal("the request failed: " + cause.getClass().getSimpleName());
  }

  private static Result badRequest(String message) {
    return Result.of(ApiError.badRequest(message));
  }

  private static CompletionStage<Result> done(Result result) {
    return CompletableFuture.completedFuture(result);
  }
}

package lms.realtime.http;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import lms.realtime.protocol.RoomName;
import lms.realtime.session.NodeContext;
import lms.realtime.user.User;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The backend's reads of a user (contract §6 and §15): a route per call, each answering a record
 * below through {@link Responses#JSON}. A user's notifications are {@link Publishing}'s.
 */
final class UsersApi extends AllDirectives {
  /** {@code GET …/users/{userId}/notifications}: the kept notifications as the stream holds them, and the seqs marked read. */
  @JsonPropertyOrder({"userId", "epoch", "seq", "recovered", "notifications", "read"})
  record Inbox(String userId, String epoch, long seq, boolean recovered, List<RawJson> notifications, List<Long> read) {}

  /** {@code GET …/users/{userId}/presence}. */
  @JsonPropertyOrder({"userId", "online", "connections"})
  record Presence(String userId, boolean online, int connections) {}

  private final NodeContext node;

  UsersApi(NodeContext node) {
    this.node = node;
  }

  /**
   * A user's inbox: the notifications of their stream after {@code since} (as a device last saw it),
   * or all the stream keeps when it cannot cover that position or none is given ({@code recovered}
   * says which); {@code read}: the seqs that a device marked read since (events
   * {@code notification.read} with {@code data.seq} in the same stream).
   */
  Route inbox(String userId, Optional<StreamQuery.Since> since) {
    return userId(userId, () -> onSuccess(StreamQuery.read(node, RoomName.Kind.USER.prefix() + ":" + userId, since), read -> {
          List<RawJson> notifications = new ArrayList<>();
          List<Long> readSeqs = new ArrayList<>();
          for (String frame : read.frames()) {
            JsonNode f;
            try {
              f = node.json().parse(frame);
            } catch (JsonProcessingException ex) {
              continue; // the engine's own frames: always JSON
            }
            if ("notification".equals(f.path("type").asText())) {
              notifications.add(new RawJson(frame));
            } else if ("notification.read".equals(f.path("event").asText()) && f.path("data").path("seq").canConvertToLong()) {
              readSeqs.add(f.path("data").path("seq").asLong());
            }
          }
          return completeOK(new Inbox(userId, read.epoch(), read.seq(), since.isPresent() && read.complete(),
              notifications, readSeqs), Responses.JSON);
        }));
  }

  Route presence(String userId) {
    return userId(userId, () -> onSuccess(node.sharding().entityRefFor(User.KEY, userId)
        .<User.UserPresence>ask(User.GetPresence::new, node.settings().http().askTimeout()),
        p -> completeOK(new Presence(p.userId(), p.online(), p.connections()), Responses.JSON)));
  }

  private Route userId(String userId, Supplier<Route> inner) {
    return RoomName.validUserId(userId) ? inner.get() : complete(ApiError.badRequest("not a user id: " + userId).response());
  }
}

package lms.realtime.protocol;

import java.util.Collection;
import java.util.List;

/**
 * Writes the engine's frames (contract §3, engine to client) as JSON text. Room events are written
 * once here and the same text is shared by every receiver.
 */
public final class ServerFrames {
  private ServerFrames() {}

  public static String welcome(String connectionId, String userId, int heartbeatSeconds) {
    return welcomeStart(connectionId, userId, heartbeatSeconds).append('}').toString();
  }

  /**
   * The {@code welcome} of an HTTP fallback connection (contract §10): where and with what secret
   * the client POSTs its frames.
   */
  public static String welcome(String connectionId, String userId, int heartbeatSeconds, String postUrl, String postToken) {
    return welcomeStart(connectionId, userId, heartbeatSeconds)
        .append(",\"postUrl\":").append(Json.quote(postUrl))
        .append(",\"postToken\":").append(Json.quote(postToken))
        .append('}').toString();
  }

  private static StringBuilder welcomeStart(String connectionId, String userId, int heartbeatSeconds) {
    return start("welcome", null)
        .append(",\"connectionId\":").append(Json.quote(connectionId))
        .append(",\"userId\":").append(Json.quote(userId))
        .append(",\"heartbeatSeconds\":").append(heartbeatSeconds);
  }

  /**
   * The last event of an HTTP fallback stream (contract §10): where a socket would get a close
   * frame, with the same code and reason.
   */
  public static String close(int code, String reason) {
    return start("close", null)
        .append(",\"code\":").append(code)
        .append(",\"reason\":").append(Json.quote(reason == null ? "" : reason))
        .append('}').toString();
  }

  /** {@code recovered} is null when the client sent no {@code since}. */
  public static String joined(String id, String room, String epoch, long seq, Boolean recovered, List<String> missed) {
    StringBuilder b = start("joined", id);
    b.append(",\"room\":").append(Json.quote(room))
        .append(",\"epoch\":").append(Json.quote(epoch))
        .append(",\"seq\":").append(seq);
    if (recovered != null) {
      b.append(",\"recovered\":").append(recovered);
      if (recovered) {
        b.append(",\"missed\":[").append(String.join(",", missed)).append(']');
      }
    }
    return b.append('}').toString();
  }

  public static String left(String id, String room, String reason) {
    StringBuilder b = start("left", id).append(",\"room\":").append(Json.quote(room));
    if (reason != null) {
      b.append(",\"reason\":").append(Json.quote(reason));
    }
    return b.append('}').toString();
  }

  /** {@code data} is JSON text, already validated. */
  public static String event(String room, long seq, String epoch, String event, String data, String from, long ts) {
    return "{\"type\":\"event\",\"room\":" + Json.quote(room)
        + ",\"seq\":" + seq
        + ",\"epoch\":" + Json.quote(epoch)
        + ",\"event\":" + Json.quote(event)
        + ",\"data\":" + data
        + ",\"from\":" + Json.quote(from)
        + ",\"ts\":" + ts + "}";
  }

  /** A notification that is not kept ({@code "durable": false}): no place in the user's stream. */
  public static String notification(String event, String data, long ts) {
    return "{\"type\":\"notification\",\"event\":" + Json.quote(event)
        + ",\"data\":" + data
        + ",\"ts\":" + ts + "}";
  }

  /** A notification kept in its user's {@code user:} stream, numbered there (contract §9). */
  public static String notification(String room, long seq, String epoch, String event, String data, long ts) {
    return "{\"type\":\"notification\",\"room\":" + Json.quote(room)
        + ",\"seq\":" + seq
        + ",\"epoch\":" + Json.quote(epoch)
        + ",\"event\":" + Json.quote(event)
        + ",\"data\":" + data
        + ",\"ts\":" + ts + "}";
  }

  /** One entry of a presence list. */
  public static String presenceUser(String userId, String name, String role, int connections) {
    return "{\"userId\":" + Json.quote(userId)
        + ",\"name\":" + (name == null ? "null" : Json.quote(name))
        + ",\"role\":" + (role == null ? "null" : Json.quote(role))
        + ",\"connections\":" + connections + "}";
  }

  public static String presence(String id, String room, Collection<String> users) {
    return start("presence", id)
        .append(",\"room\":").append(Json.quote(room))
        .append(",\"users\":[").append(String.join(",", users)).append("]}")
        .toString();
  }

  public static String presenceDiff(String room, Collection<String> joined, Collection<String> leftUserIds) {
    StringBuilder b = start("presence_diff", null)
        .append(",\"room\":").append(Json.quote(room))
        .append(",\"joined\":[").append(String.join(",", joined)).append("],\"left\":[");
    boolean first = true;
    for (String u : leftUserIds) {
      if (!first) {
        b.append(',');
      }
      b.append(Json.quote(u));
      first = false;
    }
    return b.append("]}").toString();
  }

  /** The answer to {@code refresh}: the new token's {@code exp} (seconds), the socket's 4001 deadline now. */
  public static String refreshed(String id, long exp) {
    return start("refreshed", id).append(",\"exp\":").append(exp).append('}').toString();
  }

  public static String ack(String id, long seq) {
    return start("ack", id).append(",\"seq\":").append(seq).append('}').toString();
  }

  public static String pong(String id) {
    return start("pong", id).append('}').toString();
  }

  public static String error(String id, String code, String message) {
    return start("error", id)
        .append(",\"code\":").append(Json.quote(code))
        .append(",\"message\":").append(Json.quote(message))
        .append('}')
        .toString();
  }

  private static StringBuilder start(String type, String id) {
    StringBuilder b = new StringBuilder(128).append("{\"type\":\"").append(type).append('"');
    if (id != null) {
      b.append(",\"id\":").append(Json.quote(id));
    }
    return b;
  }
}

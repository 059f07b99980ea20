package lms.realtime.protocol;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

/** A request a client sends over its socket (contract §3, client to engine). */
public sealed interface ClientFrame {
  /** The client's request id, echoed on the answer; null when the client sent none. */
  String id();

  record Join(String id, String room, Position since, String token) implements ClientFrame {}

  record Leave(String id, String room) implements ClientFrame {}

  record Publish(String id, String room, String event, String data) implements ClientFrame {}

  record PresenceQuery(String id, String room) implements ClientFrame {}

  record Ping(String id) implements ClientFrame {}

  /** In-band token refresh (contract §9): a new access token of the same user. */
  record Refresh(String id, String token) implements ClientFrame {}

  /** A room position a reconnecting client last saw. */
  record Position(String epoch, long seq) {}

  /** Why a frame could not be read: the error frame it earns. */
  final class Invalid extends Exception {
    public final String id;
    public final String code;

    Invalid(String id, String code, String message) {
      super(message, null, false, false);
      this.id = id;
      this.code = code;
    }
  }

  int MAX_EVENT_NAME = 128;
  int MAX_ID = 128;

  /**
   * The request id of a frame that is refused without being read (over the rate limit), so that
   * the refusal can say which request it refuses; null when the frame has no readable id.
   */
  static String peekId(Json json, String text) {
    try {
      JsonNode id = json.parse(text).get("id");
      return id != null && id.isTextual() && id.asText().length() <= MAX_ID ? id.asText() : null;
    } catch (JsonProcessingException e) {
      return null;
    }
  }

  /** Reads one text frame into a request, or throws {@link Invalid} with the error to answer. */
  static ClientFrame parse(Json json, String text) throws Invalid {
    JsonNode node;
    try {
      node = json.parse(text);
    } catch (JsonProcessingException e) {
      throw new Invalid(null, ErrorCodes.BAD_REQUEST, "malformed JSON");
    }
    if (!node.isObject()) {
      throw new Invalid(null, ErrorCodes.BAD_REQUEST, "a frame is a JSON object");
    }
    String id = optionalId(node);
    JsonNode type = node.get("type");
    if (type == null || !type.isTextual()) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "missing or non-string field 'type'");
    }
    return switch (type.asText()) {
      case "join" -> new Join(id, room(node, id), since(node, id), optionalText(node, "token", id));
      case "leave" -> new Leave(id, room(node, id));
      case "publish" -> new Publish(id, room(node, id), eventName(node, id), data(node));
      case "presence" -> new PresenceQuery(id, room(node, id));
      case "ping" -> new Ping(id);
      case "refresh" -> new Refresh(id, requiredText(node, "token", id));
      default -> throw new Invalid(id, ErrorCodes.UNKNOWN_TYPE, "unknown type '" + clip(type.asText()) + "'");
    };
  }

  private static String optionalId(JsonNode node) throws Invalid {
    JsonNode id = node.get("id");
    if (id == null || id.isNull()) {
      return null;
    }
    if (!id.isTextual() || id.asText().length() > MAX_ID) {
      throw new Invalid(null, ErrorCodes.BAD_REQUEST, "'id' must be a string of at most " + MAX_ID + " characters");
    }
    return id.asText();
  }

  private static String room(JsonNode node, String id) throws Invalid {
    JsonNode room = node.get("room");
    if (room == null || !room.isTextual()) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "missing or non-string field 'room'");
    }
    return room.asText();
  }

  /** The {@code event} field: a non-empty string of at most {@link #MAX_EVENT_NAME} chars (socket frames and backend bodies). */
  static String eventName(JsonNode node, String id) throws Invalid {
    JsonNode event = node.get("event");
    if (event == null || !event.isTextual() || event.asText().isEmpty() || event.asText().length() > MAX_EVENT_NAME) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "'event' must be a non-empty string of at most " + MAX_EVENT_NAME + " characters");
    }
    return event.asText();
  }

  /** The event payload, re-encoded compactly; a missing {@code data} is JSON null. */
  static String data(JsonNode node) {
    JsonNode data = node.get("data");
    return data == null ? "null" : Json.write(data);
  }

  private static String requiredText(JsonNode node, String field, String id) throws Invalid {
    String value = optionalText(node, field, id);
    if (value == null) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "missing field '" + field + "'");
    }
    return value;
  }

  private static String optionalText(JsonNode node, String field, String id) throws Invalid {
    JsonNode value = node.get(field);
    if (value == null || value.isNull()) {
      return null;
    }
    if (!value.isTextual()) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "'" + field + "' must be a string");
    }
    return value.asText();
  }

  private static Position since(JsonNode node, String id) throws Invalid {
    JsonNode since = node.get("since");
    if (since == null || since.isNull()) {
      return null;
    }
    JsonNode epoch = since.get("epoch");
    JsonNode seq = since.get("seq");
    if (!since.isObject() || epoch == null || !epoch.isTextual() || seq == null || !seq.canConvertToLong() || !seq.isIntegralNumber() || seq.asLong() < 0) {
      throw new Invalid(id, ErrorCodes.BAD_REQUEST, "'since' must be {\"epoch\": string, \"seq\": non-negative integer}");
    }
    return new Position(epoch.asText(), seq.asLong());
  }

  private static String clip(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "…";
  }
}

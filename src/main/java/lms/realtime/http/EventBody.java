package lms.realtime.http;

import com.fasterxml.jackson.databind.JsonNode;
import lms.realtime.protocol.ClientFrame;

/**
 * An event or a notification as the backend sends it (contract §6, and each item of a §10 batch),
 * checked whole: {@code event} (a non-empty string), {@code data} (any JSON, re-encoded compactly;
 * missing is null), {@code id} (optional: de-duplication within the stream's history window), and
 * for a notification {@code durable} (optional boolean, default true: kept in the user's stream).
 * A notification that is not kept has no stream to de-duplicate in, so an {@code id} on it is
 * refused rather than silently ignored.
 */
record EventBody(String event, String data, String id, boolean durable) {

  /** Why a body or an item was refused: the message of its 400. */
  static final class Invalid extends Exception {
    Invalid(String message) {
      super(message, null, false, false);
    }
  }

  static EventBody read(JsonNode json, boolean notification) throws Invalid {
    if (json == null || !json.isObject()) {
      throw new Invalid("the body is a JSON object");
    }
    String event;
    try {
      event = ClientFrame.eventName(json, null);
    } catch (ClientFrame.Invalid invalid) {
      throw new Invalid(invalid.getMessage());
    }
    JsonNode id = json.get("id");
    if (id != null && !id.isNull() && (!id.isTextual() || id.asText().isEmpty() || id.asText().length() > ClientFrame.MAX_ID)) {
      throw new Invalid("'id' must be a non-empty string of at most " + ClientFrame.MAX_ID + " characters");
    }
    String idText = id != null && id.isTextual() ? id.asText() : null;
    boolean durable = true;
    if (notification) {
      JsonNode kept = json.get("durable");
      if (kept != null && !kept.isBoolean()) {
        throw new Invalid("'durable' must be true or false");
      }
      durable = kept == null || kept.asBoolean();
      if (!durable && idText != null) {
        throw new Invalid("'id' de-duplicates within the user's stream: a notification with \"durable\": false has none");
      }
    }
    return new EventBody(event, ClientFrame.data(json), idText, durable);
  }
}

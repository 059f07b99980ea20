package lms.realtime.protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import lms.realtime.Settings;

/**
 * The one JSON codec of the edge. Parsing is bounded (nesting depth, string and number length) so
 * that a hostile frame or body costs little; anything over a bound is simply malformed input.
 */
public final class Json {
  /** Unbounded mapper for what the engine writes itself. */
  public static final ObjectMapper MAPPER = new ObjectMapper();

  private final ObjectMapper reader;

  public Json(Settings settings) {
    JsonFactory factory =
        JsonFactory.builder()
            .streamReadConstraints(
                StreamReadConstraints.builder()
                    .maxNestingDepth(settings.jsonMaxDepth())
                    .maxStringLength(settings.jsonMaxStringLength())
                    .maxNumberLength(settings.jsonMaxNumberLength())
                    .maxDocumentLength(settings.maxFrameBytes() * 4L)
                    .build())
            .build();
    this.reader = new ObjectMapper(factory);
  }

  /** Parses one JSON document; throws {@link JsonProcessingException} on anything malformed. */
  public JsonNode parse(String text) throws JsonProcessingException {
    JsonNode node = reader.readTree(text);
    if (node == null || node.isMissingNode()) {
      throw new IllegalJson("empty document");
    }
    return node;
  }

  public static ObjectNode object() {
    return MAPPER.createObjectNode();
  }

  public static String write(JsonNode node) {
    try {
      return MAPPER.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  /** A JSON string literal, quotes included, for frames assembled by hand. */
  public static String quote(String s) {
    return write(MAPPER.getNodeFactory().textNode(s));
  }

  static final class IllegalJson extends JsonProcessingException {
    IllegalJson(String msg) {
      super(msg);
    }
  }
}

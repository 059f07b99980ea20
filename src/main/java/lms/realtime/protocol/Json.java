package lms.realtime.protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import lms.realtime.config.Settings;

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
                    .maxNestingDepth(settings.limits().jsonMaxDepth())
                    .maxStringLength(settings.limits().jsonMaxStringLength())
                    .maxNumberLength(settings.limits().jsonMaxNumberLength())
                    .maxDocumentLength(settings.limits().maxFrameBytes() * 4L)
                    .build())
            .build();
    this.reader = new ObjectMapper(factory).enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  }

  /**
   * Parses one JSON document; throws {@link JsonProcessingException} on anything malformed, on text
   * after the document, and on a number no JSON writer can carry back (such as {@code 1e400}, which
   * reads as infinity).
   */
  public JsonNode parse(String text) throws JsonProcessingException {
    JsonNode node = reader.readTree(text);
    if (node == null || node.isMissingNode()) {
      throw new IllegalJson("empty document");
    }
    if (!finite(node)) {
      throw new IllegalJson("a number out of range");
    }
    return node;
  }

  private static boolean finite(JsonNode node) {
    if (node.isFloatingPointNumber()) {
      return Double.isFinite(node.doubleValue());
    }
    if (node.isContainerNode()) {
      for (JsonNode child : node) {
        if (!finite(child)) {
          return false;
        }
      }
    }
    return true;
  }


  public static String write(JsonNode node) {
    try {
      return MAPPER.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  /**
   * A JSON string literal, quotes included, for frames assembled by hand: escaped as Jackson would
   * ({@code \" \\ \b \t \n \f \r}, other control characters as a six-character unicode escape), without a
   * generator per call (that cost 8 µs of every handshake's welcome frame).
   */
  public static String quote(String s) {
    int n = s.length();
    int i = 0;
    while (i < n) {
      char c = s.charAt(i);
      if (c < 0x20 || c == '"' || c == '\\') {
        break;
      }
      i++;
    }
    StringBuilder b = new StringBuilder(n + 8).append('"');
    if (i == n) {
      return b.append(s).append('"').toString();
    }
    b.append(s, 0, i);
    for (; i < n; i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\b' -> b.append("\\b");
        case '\t' -> b.append("\\t");
        case '\n' -> b.append("\\n");
        case '\f' -> b.append("\\f");
        case '\r' -> b.append("\\r");
        default -> {
          if (c < 0x20) {
            b.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xF]);
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  /**
   * The contract's error body of an HTTP answer (§6), {@code {"error":…,"message":…}}, no message
   * when null: the one shape of every error the engine answers over HTTP (the backend API's, through
   * {@code http.ApiError}, the handshake's refusals, the fallback's). Built with {@link #quote}, as
   * Jackson would write it ({@code ApiBodiesTest}), without a generator per refusal.
   */
  public static String errorBody(String error, String message) {
    return "{\"error\":" + quote(error) + (message == null ? "" : ",\"message\":" + quote(message)) + "}";
  }

  /** UTF-8 length of a string, counted without encoding it. */
  public static long utf8Length(String s) {
    int n = s.length();
    long bytes = 0;
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c)) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }

  static final class IllegalJson extends JsonProcessingException {
    IllegalJson(String msg) {
      super(msg);
    }
  }
}

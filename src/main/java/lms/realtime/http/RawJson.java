package lms.realtime.http;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A JSON value the engine has already written (a frame of a room's stream, a presence entry), carried
 * inside an answer body as it is: Jackson copies its text, it does not parse and write it again. The
 * text is the engine's own, so it is JSON by construction.
 */
@JsonSerialize(using = RawJson.Writer.class)
record RawJson(String json) {

  static List<RawJson> all(List<String> texts) {
    List<RawJson> out = new ArrayList<>(texts.size());
    for (String text : texts) {
      out.add(new RawJson(text));
    }
    return out;
  }

  static final class Writer extends StdSerializer<RawJson> {
    Writer() {
      super(RawJson.class);
    }

    @Override
    public void serialize(RawJson value, JsonGenerator gen, SerializerProvider provider) throws IOException {
      gen.writeRawValue(value.json());
    }
  }
}

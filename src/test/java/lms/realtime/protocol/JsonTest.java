package lms.realtime.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

class JsonTest {
  private static final ObjectMapper JACKSON = new ObjectMapper();

  /** The hand-written string escape writes exactly what Jackson writes, and reads back to the same string. */
  @Test
  void quoteEscapesAsJacksonDoes() throws Exception {
    List<String> samples = new ArrayList<>(List.of("", "plain", "quote \" and \\ backslash", "tab\tnew\nline\r\b\f",
        "\u0000\u0001\u001f\u007f", "é ü 中文 🎓", "</script>", "\u2028\u2029"));
    StringBuilder all = new StringBuilder();
    for (char c = 0; c < 0x80; c++) {
      all.append(c);
    }
    samples.add(all.toString());
    ThreadLocalRandom r = ThreadLocalRandom.current();
    for (int i = 0; i < 200; i++) {
      StringBuilder s = new StringBuilder();
      for (int j = r.nextInt(40); j > 0; j--) {
        s.append((char) (r.nextBoolean() ? r.nextInt(0x80) : r.nextInt(0x20, 0xD7FF)));
      }
      samples.add(s.toString());
    }
    for (String s : samples) {
      assertEquals(JACKSON.writeValueAsString(s), Json.quote(s), "for " + s);
      assertEquals(s, JACKSON.readValue(Json.quote(s), String.class));
    }
  }
}

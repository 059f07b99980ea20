package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Thousands of random and malformed frames at one socket; then the socket and the node must still
 * answer. Seeded, so a failure can be replayed (the seed is printed).
 */
@Tag("socket")
class FuzzTest {
  static final int FRAMES = 3000;

  @Test
  void hostileFramesChangeNothingAndTheSocketStillAnswers() throws Exception {
    long seed = System.nanoTime();
    System.out.println("fuzz seed " + seed);
    Random random = new Random(seed);
    try (TestNode node = TestNode.start(Map.of("lms.limits.rate-per-second", 100000, "lms.limits.rate-burst", 100000))) {
      WsClient ws = node.connect(Tokens.student("fuzzer", "900"));
      ws.expect("welcome");
      int sent = 0;
      int[] kinds = new int[8];
      for (int i = 0; i < FRAMES; i++) {
        int kind = random.nextInt(kinds.length);
        kinds[kind]++;
        ws.send(frame(kind, random));
        sent++;
      }
      // every answer is one the contract names; the socket is still open and answers a ping
      ws.send("{\"type\":\"ping\",\"id\":\"after-fuzz\"}");
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      int answers = 0;
      JsonNode pong = null;
      while (pong == null && System.nanoTime() < deadline) {
        JsonNode f = ws.next();
        answers++;
        String type = f.get("type").asText();
        assertTrue(type.equals("error") || type.equals("pong") || type.equals("joined") || type.equals("left")
            || type.equals("ack") || type.equals("event") || type.equals("presence"), f.toString());
        if (type.equals("pong") && "after-fuzz".equals(f.path("id").asText())) {
          pong = f;
        }
      }
      assertTrue(pong != null, "no pong after the fuzz");
      assertFalse(ws.closed().isDone());
      System.out.printf("fuzz: %d frames sent (by kind %s), %d answers, socket open%n", sent, java.util.Arrays.toString(kinds), answers);
      // the node too: a fresh socket works, the backend API works, and no room was corrupted
      try (WsClient fresh = node.connect(Tokens.student("fresh", "900"))) {
        fresh.expect("welcome");
        fresh.join("course:900");
        var r = node.post("/api/v1/rooms/course:900/events", Tokens.service(), "{\"event\":\"still-fine\"}");
        assertEquals(202, r.statusCode());
        assertEquals("still-fine", fresh.expect("event").get("event").asText());
      }
      // random bytes as a binary frame end that socket with 1003, nothing else
      byte[] bytes = new byte[random.nextInt(2000) + 1];
      random.nextBytes(bytes);
      ws.socket.sendBinary(ByteBuffer.wrap(bytes), true).join();
      assertEquals(1003, ws.awaitClose(Duration.ofSeconds(10)).code());
      assertEquals(200, node.get("/health/ready", null).statusCode());
    }
  }

  /** One hostile frame of a given kind. */
  static String frame(int kind, Random r) {
    return switch (kind) {
      case 0 -> randomText(r, r.nextInt(200));                                  // random characters
      case 1 -> "[".repeat(r.nextInt(5000)) + "]".repeat(r.nextInt(5000));       // deep nesting
      case 2 -> "{\"type\":\"ping\",\"id\":" + "9".repeat(r.nextInt(5000) + 1) + "}"; // huge numbers
      case 3 -> "{\"type\":" + pick(r, "1", "null", "[]", "{}", "true", "\"join\"", "\"publish\"", "\"leave\"", "\"presence\"")
          + ",\"room\":" + pick(r, "1", "null", "[]", "\"course:900\"", "\"live:x\"", "\"user:fuzzer\"", "\"user:other\"", "\"\"", "\"course:\"")
          + ",\"event\":" + pick(r, "1", "\"\"", "\"e\"", "{}") + ",\"data\":" + pick(r, "1", "{\"a\":[1,2]}", "\"x\"") + "}"; // wrong types
      case 4 -> "{\"type\":\"join\",\"room\":\"course:900\",\"since\":" + pick(r, "1", "{}", "{\"epoch\":1}", "{\"epoch\":\"e\",\"seq\":1e400}", "{\"epoch\":\"e\",\"seq\":-5}") + "}";
      case 5 -> "{\"type\":\"" + randomText(r, r.nextInt(100)).replace("\"", "").replace("\\", "") + "\"}"; // unknown types
      case 6 -> "{\"type\":\"publish\",\"room\":\"user:fuzzer\",\"event\":\"e\",\"data\":\"" + "\\u0000".repeat(r.nextInt(50)) + "\"}";
      default -> "{\"type\":\"join\",\"room\":\"live:x\",\"token\":\"" + randomText(r, 300).replace("\"", "").replace("\\", "") + "\"}";
    };
  }

  static String pick(Random r, String... options) {
    return options[r.nextInt(options.length)];
  }

  static String randomText(Random r, int length) {
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      int cp = r.nextInt(4) == 0 ? r.nextInt(0x2FFF) : r.nextInt(0x7F);
      if (Character.isSurrogate((char) cp)) {
        cp = 'x';
      }
      b.appendCodePoint(cp);
    }
    return b.toString();
  }
}

package lms.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The README's Performance block is what {@link Readme} writes from the committed
 * {@code results/latest.json}, to the character (a hand edit, or a latest.json committed without
 * {@code bench/run.sh --readme-only}, fails here); and a capacity of 0 is never "met", whatever
 * latest.json's goal says (issue 22, item 15: the README said "met" for a capacity recorded as 0).
 */
class ReadmeTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void theReadmeBlockIsWhatLatestJsonGives() throws Exception {
    Path bench = Path.of("").toAbsolutePath(); // surefire runs in the module's directory, bench/
    Path json = bench.resolve("results/latest.json");
    Path readme = bench.getParent().resolve("README.md");
    String text = Files.readString(readme);
    String rewritten = Readme.rewritten(text, JSON.readTree(json.toFile()), readme.getParent(), json);
    assertNotNull(rewritten, "README.md has no perf:begin / perf:end markers");
    assertEquals(rewritten, text, "README.md's Performance block is not what results/latest.json gives: bench/run.sh --readme-only");
  }

  @Test
  void aCapacityOfZeroIsBelowTheFirstStepAndNeverMet() throws Exception {
    JsonNode latest = JSON.readTree("""
        {"capacity": [
           {"server": "lms-realtime", "members": 1000, "deliveries_per_s": 0,
            "first_failed_step": {"offered_deliveries_per_s": 20000, "p99_ms": 59.679}},
           {"server": "socket.io", "members": 1000, "deliveries_per_s": 20000}],
         "issue_11_goals": [{"goal": "capacity at p99 <= 50 ms >= 1.25x Socket.IO's, 1,000 members", "members": 1000,
                             "lms_realtime_measured": "0.00x (0 vs 20,000 deliveries/s)", "met": true}],
         "lms_day": [{"server": "lms-realtime-pg", "capacity_multiplier": 0,
                      "first_failed_step": {"multiplier": 1, "why": "p99 81 ms > 50 ms"}}],
         "issue_23_goals": [{"goal": "lms-day capacity with durable rooms >= 1.0x Socket.IO's (PostgreSQL)", "measured": "0x", "met": true}]}
        """);
    List<Readme.Row> i11 = Readme.issue11(latest);
    assertEquals(Readme.NOT_MET, i11.get(0).verdict());
    assertEquals("below the first step (p99 59.7 ms at 20,000/s); Socket.IO: 20,000 deliveries/s", i11.get(0).measured());
    List<Readme.Row> i23 = Readme.issue23(latest);
    assertEquals(Readme.NOT_MET, i23.get(0).verdict());
    assertEquals("below the first step (x1: p99 81 ms > 50 ms)", i23.get(0).measured());
  }
}

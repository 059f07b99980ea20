package lms.realtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code --mint-token} (the compose file's {@code token} service, docs/operations.md): what it prints is
 * accepted by a real node that shares the secret, as an access token, a service token and a room
 * token; without a usable secret or with arguments it cannot honour it prints no token and exits 1.
 */
@Tag("socket")
class MintTokenTest {
  private record Run(int exit, String out, String err) {}

  private static Run mint(String secret, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Config config = ConfigFactory.parseMap(Map.of("lms.jwt.secret", secret));
    int exit = MintToken.run(List.of(args), config, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(exit, out.toString(StandardCharsets.UTF_8).strip(), err.toString(StandardCharsets.UTF_8));
  }

  private static String token(String... args) {
    Run run = mint(Tokens.SECRET, args);
    assertEquals(0, run.exit(), run.err());
    return run.out();
  }

  @Test
  void mintedTokensAreAcceptedByANodeThatSharesTheSecret() throws Exception {
    String student = token("ada", "--name", "Ada", "--course", "demo-101=student");
    String backend = token("backend", "--role", "service");
    String live = token("ada", "--room", "live:class-7=student", "--ttl", "600");
    try (TestNode node = TestNode.start(); WsClient ws = node.connect(student)) {
      var welcome = ws.expect("welcome");
      assertEquals("ada", welcome.get("userId").asText());
      ws.join("course:demo-101");
      var published = node.post("/api/v1/rooms/course:demo-101/events", backend, "{\"event\":\"lesson_added\",\"data\":{\"n\":1}}");
      assertEquals(202, published.statusCode(), published.body());
      var event = ws.expect("event");
      assertEquals("lesson_added", event.get("event").asText());
      ws.send("{\"type\":\"join\",\"room\":\"live:class-7\",\"id\":\"2\",\"token\":\"" + live + "\"}");
      assertEquals("live:class-7", ws.expect("joined").get("room").asText());
      // the student token carries no service role: the backend API refuses it
      assertEquals(403, node.post("/api/v1/rooms/course:demo-101/events", student, "{\"event\":\"x\",\"data\":{}}").statusCode());
    }
  }

  @Test
  void withoutAUsableSecretNoTokenIsPrinted() {
    for (String secret : new String[] {"", "CHANGE-ME", "x".repeat(31)}) {
      Run run = mint(secret, "ada");
      assertEquals(1, run.exit(), "secret of " + secret.length() + " bytes");
      assertEquals("", run.out());
      assertTrue(run.err().contains("LMS_JWT_SECRET"), run.err());
    }
  }

  @Test
  void argumentsItCannotHonourAreRefusedWithTheReason() {
    Map<List<String>, String> refused = Map.of(
        List.of(), "needs the user id",
        List.of("--name", "Ada"), "needs the user id",
        List.of("ada/../x"), "is not 1-128",
        List.of("ada", "--course"), "--course needs a value",
        List.of("ada", "--course", "demo-101"), "--course ID=ROLE",
        List.of("ada", "--role", "root"), "--role is admin or service",
        List.of("ada", "--room", "live:x=owner"), "student or instructor",
        List.of("ada", "--room", "live:x=student", "--course", "c=student"), "carries no --course",
        List.of("ada", "--ttl", "0"), "1 to 86400",
        List.of("ada", "--colour", "blue"), "unknown option --colour");
    refused.forEach((args, reason) -> {
      Run run = mint(Tokens.SECRET, args.toArray(String[]::new));
      assertEquals(1, run.exit(), String.join(" ", args));
      assertEquals("", run.out(), String.join(" ", args));
      assertTrue(run.err().contains(reason), args + ": " + run.err());
    });
  }
}

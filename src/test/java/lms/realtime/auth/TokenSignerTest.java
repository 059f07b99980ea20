package lms.realtime.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jsonwebtoken.Claims;
import io.jsonwebtoken.Jws;
import io.jsonwebtoken.Jwts;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.crypto.spec.SecretKeySpec;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Test;

/**
 * The engine's own HS256 tokens (demo mode, {@code --mint-token}): accepted by its verifier, and
 * read the same by an implementation that is not ours (jjwt, the tests' only), so that what the
 * engine mints is a JWT as any platform's is, not merely one our verifier agrees with.
 */
class TokenSignerTest {
  static final Instant NOW = Instant.ofEpochSecond(Instant.now().getEpochSecond());
  static final TokenSigner SIGNER = new TokenSigner(Tokens.SECRET);
  static final TokenVerifier VERIFIER = new TokenVerifier(Tokens.SECRET, null, 0);

  static Jws<Claims> jjwt(String token) {
    return Jwts.parser().verifyWith(new SecretKeySpec(Tokens.SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"))
        .build().parseSignedClaims(token);
  }

  static Map<String, Object> claims(Object... pairs) {
    Map<String, Object> claims = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      claims.put((String) pairs[i], pairs[i + 1]);
    }
    return claims;
  }

  @Test
  void anAccessTokenIsReadTheSameByTheVerifierAndByJjwt() throws Exception {
    // a name whose UTF-8 gives '+' and '/' in plain base64: the token must use the URL alphabet
    String name = "Ada ~~~ ??? >>> Lovelace";
    String token = SIGNER.sign(claims("sub", "ada", "name", name, "courses", Map.of("demo-101", "instructor"),
        "roles", List.of("admin")), NOW, 600);
    assertTrue(token.matches("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+"), "base64url without padding: " + token);
    String payload = token.split("\\.")[1];
    assertTrue(payload.contains("-") && payload.contains("_"), "the URL alphabet's own characters: " + payload);

    Identity identity = VERIFIER.verifyAccess(token);
    assertEquals(new Identity("ada", name, Set.of("admin"), Map.of("demo-101", "instructor"),
        NOW.getEpochSecond() + 600, NOW.getEpochSecond()), identity);

    Jws<Claims> parsed = jjwt(token);
    assertEquals("HS256", parsed.getHeader().getAlgorithm());
    assertEquals("JWT", parsed.getHeader().getType());
    Claims read = parsed.getPayload();
    assertEquals("ada", read.getSubject());
    assertEquals(name, read.get("name", String.class));
    assertEquals(Map.of("demo-101", "instructor"), read.get("courses", Map.class));
    assertEquals(List.of("admin"), read.get("roles", List.class));
    assertEquals(NOW, read.getIssuedAt().toInstant());
    assertEquals(NOW.plusSeconds(600), read.getExpiration().toInstant());
  }

  @Test
  void aRoomTokenIsReadTheSameByTheVerifierAndByJjwt() throws Exception {
    String token = SIGNER.sign(claims("sub", "ada", "room", "live:class-7", "role", "student"), NOW, 60);
    assertEquals(new RoomGrant("ada", "live:class-7", "student", NOW.getEpochSecond() + 60, NOW.getEpochSecond()),
        VERIFIER.verifyRoomToken(token));
    Claims read = jjwt(token).getPayload();
    assertEquals("live:class-7", read.get("room", String.class));
    assertEquals("student", read.get("role", String.class));
  }

  @Test
  void anotherSecretsVerifierRefusesItAndASecretUnder32BytesSignsNothing() {
    String token = SIGNER.sign(claims("sub", "ada"), NOW, 60);
    TokenVerifier other = new TokenVerifier(Tokens.SECRET.replace('t', 'T'), null, 0);
    assertThrows(TokenException.class, () -> other.verifyAccess(token));
    int signature = token.lastIndexOf('.') + 1;
    char first = token.charAt(signature);
    String tampered = token.substring(0, signature) + (first == 'A' ? 'B' : 'A') + token.substring(signature + 1);
    assertThrows(TokenException.class, () -> VERIFIER.verifyAccess(tampered));
    assertThrows(IllegalArgumentException.class, () -> new TokenSigner("x".repeat(TokenVerifier.MIN_SECRET_BYTES - 1)));
  }
}

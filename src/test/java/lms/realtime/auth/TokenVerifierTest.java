package lms.realtime.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jsonwebtoken.Jwts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Contract §1: HS256 with a secret, RS256/ES256 with a PEM public key; nothing else. */
class TokenVerifierTest {
  @TempDir Path dir;

  private String token(java.security.Key key) {
    return Jwts.builder().subject("u1").claim("name", "Ada").claim("roles", List.of("admin"))
        .claim("courses", Map.of("42", "instructor"))
        .issuedAt(new Date()).expiration(Date.from(Instant.now().plusSeconds(60))).signWith(key).compact();
  }

  private Path pem(KeyPair pair) throws Exception {
    Path file = dir.resolve("key.pem");
    String body = Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(pair.getPublic().getEncoded());
    Files.writeString(file, "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----\n");
    return file;
  }

  @Test
  void hs256ReadsEveryClaim() throws Exception {
    Identity id = new TokenVerifier(Tokens.SECRET, null, 30).verifyAccess(token(Tokens.key()));
    assertEquals("u1", id.userId());
    assertEquals("Ada", id.name());
    assertTrue(id.isAdmin());
    assertEquals("instructor", id.courseRole("42"));
    assertTrue(id.issuedAt() != null && id.expiresAt() > id.issuedAt());
  }

  @Test
  void rs256WithAConfiguredRsaKey() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    KeyPair pair = g.generateKeyPair();
    TokenVerifier v = new TokenVerifier(null, TokenVerifier.readPublicKey(pem(pair)), 30);
    assertEquals("u1", v.verifyAccess(token(pair.getPrivate())).userId());
    assertThrows(TokenException.class, () -> v.verifyAccess(token(Tokens.key())), "HS256 without a secret");
    KeyPair other = g.generateKeyPair();
    assertThrows(TokenException.class, () -> v.verifyAccess(token(other.getPrivate())), "wrong RSA key");
  }

  @Test
  void es256WithAConfiguredEcKey() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair pair = g.generateKeyPair();
    TokenVerifier v = new TokenVerifier(Tokens.SECRET, TokenVerifier.readPublicKey(pem(pair)), 30);
    assertEquals("u1", v.verifyAccess(token(pair.getPrivate())).userId());
    assertEquals("u1", v.verifyAccess(token(Tokens.key())).userId(), "both keys configured: both algorithms");
  }

  @Test
  void refusals() {
    TokenVerifier v = new TokenVerifier(Tokens.SECRET, null, 30);
    assertThrows(TokenException.class, () -> v.verifyAccess(null));
    assertThrows(TokenException.class, () -> v.verifyAccess("a.b.c"));
    assertThrows(TokenException.class, () -> v.verifyAccess(Tokens.unsigned("u1")));
    assertThrows(TokenException.class, () -> v.verifyAccess(Tokens.builder("u1").claim("courses", "nope").compact()));
    assertThrows(TokenException.class, () -> v.verifyAccess(Tokens.builder("u1").claim("roles", "admin").compact()));
    assertThrows(TokenException.class, () -> v.verifyRoomToken(Tokens.builder("u1").claim("room", "live:x").claim("role", "king").compact()));
  }

  @Test
  void shortSecretsAreRefusedAtStart() {
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier("short", null, 30));
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier("", null, 30));
  }
}

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

  /** The verifier's own rules, with tokens built byte by byte. */
  @Test
  void compactSerializationRules() throws Exception {
    TokenVerifier v = new TokenVerifier(Tokens.SECRET, null, 30);
    long exp = Instant.now().plusSeconds(600).getEpochSecond();
    String hs = "{\"alg\":\"HS256\"}";
    assertEquals("u1", v.verifyAccess(Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + ".5}")).userId(), "a fractional NumericDate");
    String ok = Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + "}");
    assertEquals("u1", v.verifyAccess(ok).userId());
    String[] parts = ok.split("\\.");
    assertTrue(message(v, parts[0] + "." + parts[1] + "." + parts[2] + "=").contains("base64url"), "padding is not base64url");
    assertTrue(message(v, parts[0] + "." + parts[1]).contains("not a JWT"));
    assertTrue(message(v, parts[0] + "." + parts[1] + "." + parts[2] + ".x").contains("not a JWT"));
    assertTrue(message(v, parts[0] + "." + parts[1] + "." + parts[2].substring(1)).contains("signature"));
    assertTrue(message(v, Tokens.handMade("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{\"sub\":\"u1\",\"exp\":" + exp + "}")).contains("crit"));
    assertTrue(message(v, Tokens.handMade("{\"alg\":\"HS512\"}", "{\"sub\":\"u1\",\"exp\":" + exp + "}")).contains("algorithm"));
    assertTrue(message(v, Tokens.handMade(hs, "[1]")).contains("object"));
    assertTrue(message(v, Tokens.handMade(hs, "{\"sub\":\"u1\"}")).contains("no exp"));
    assertTrue(message(v, Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":\"" + exp + "\"}")).contains("number"));
    assertTrue(message(v, Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + (exp - 700) + "}")).contains("expired at"));
    assertTrue(message(v, Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + ",\"nbf\":" + (exp - 60) + "}")).contains("not valid before"));
    assertEquals("u1", v.verifyAccess(Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + (exp - 620) + "}")).userId(),
        "expired 20 s ago is within the 30 s skew");
    assertTrue(message(v, Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + ",\"iat\":\"now\"}")).contains("iat"));
  }

  @Test
  void weakPublicKeysAreRefusedAtStart() throws Exception {
    KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
    rsa.initialize(1024);
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier(null, rsa.generateKeyPair().getPublic(), 30));
    KeyPairGenerator ec = KeyPairGenerator.getInstance("EC");
    ec.initialize(new ECGenParameterSpec("secp384r1"));
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier(null, ec.generateKeyPair().getPublic(), 30));
  }

  private static String message(TokenVerifier v, String token) {
    return assertThrows(TokenException.class, () -> v.verifyAccess(token)).getMessage();
  }

  @Test
  void shortSecretsAreRefusedAtStart() {
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier("short", null, 30));
    assertThrows(IllegalArgumentException.class, () -> new TokenVerifier("", null, 30));
  }
}

package lms.realtime.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jsonwebtoken.Jwts;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import lms.realtime.testkit.TestClock;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Contract §1: HS256 with a secret, RS256/ES256 with a PEM public key; nothing else. */
class TokenVerifierTest {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
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

  /**
   * Issue 22: time claims are seconds from 0 to the end of the year 9999 (§1). {@code 1e300} was
   * taken as "never expires", {@code 1e400} as infinity; a fraction is accepted and dropped.
   */
  @Test
  void timeClaimsAreSecondsFromZeroToTheYear9999() throws Exception {
    TokenVerifier v = new TokenVerifier(Tokens.SECRET, null, 30);
    long exp = Instant.now().plusSeconds(600).getEpochSecond();
    String hs = "{\"alg\":\"HS256\"}";
    for (String claims : List.of("\"exp\":1e300", "\"exp\":1e400", "\"exp\":-1e300", "\"exp\":253402300800",
        "\"exp\":100000000000000000000", "\"exp\":" + exp + ",\"nbf\":-1e300", "\"exp\":" + exp + ",\"nbf\":-1",
        "\"exp\":" + exp + ",\"iat\":1e300", "\"exp\":" + exp + ",\"iat\":-5")) {
      String refused = message(v, Tokens.handMade(hs, "{\"sub\":\"u1\"," + claims + "}"));
      assertTrue(refused.contains("from 0 to 253402300799 (9999-12-31T23:59:59Z)"), claims + ": " + refused);
      assertThrows(TokenException.class, () -> v.verifyRoomToken(
          Tokens.handMade(hs, "{\"sub\":\"u1\",\"room\":\"live:x\",\"role\":\"student\"," + claims + "}")), claims);
    }
    Identity last = v.verifyAccess(Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":253402300799,\"iat\":0,\"nbf\":0}"));
    assertEquals(253402300799L, last.expiresAt());
    assertEquals(0L, last.issuedAt());
    Identity fractional = v.verifyAccess(Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + ".75,\"iat\":" + (exp - 600) + ".5}"));
    assertEquals(exp, fractional.expiresAt());
    assertEquals(exp - 600, fractional.issuedAt());
  }

  /**
   * The time claims on the verifier's clock, moved by hand: a token is refused from {@code exp} plus
   * the skew on, the moment its socket gets 4001 (the deadline reads whole seconds, so a fraction of
   * {@code exp} buys nothing), and accepted from {@code nbf} minus the skew on; access and room
   * tokens alike.
   */
  @Test
  void expAndNbfEdgesOnTheVerifiersClock() throws Exception {
    TestClock clock = new TestClock(1_800_000_000_000L);
    TokenVerifier v = new TokenVerifier(Tokens.SECRET, null, 30).on(clock);
    long exp = 1_800_000_100L;
    String hs = "{\"alg\":\"HS256\"}";
    List<String> tokens = List.of(Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + "}"),
        Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + exp + ".9}"));
    String room = Tokens.handMade(hs, "{\"sub\":\"u1\",\"room\":\"live:x\",\"role\":\"student\",\"exp\":" + exp + "}");
    for (long at : new long[] {(exp + 30 - 1) * 1000, (exp + 30) * 1000 - 1}) {
      clock.setTo(at);
      for (String token : tokens) {
        assertEquals("u1", v.verifyAccess(token).userId(), "at exp + skew - " + ((exp + 30) * 1000 - at) + " ms");
      }
      assertEquals("live:x", v.verifyRoomToken(room).room());
      assertFalse(v.expired(exp));
    }
    clock.setTo((exp + 30) * 1000);
    for (String token : tokens) {
      assertEquals("token expired at 2027-01-15T08:01:40Z", message(v, token), "at exp + skew: " + token);
    }
    assertThrows(TokenException.class, () -> v.verifyRoomToken(room));
    assertTrue(v.expired(exp));

    long nbf = exp + 1000;
    String early = Tokens.handMade(hs, "{\"sub\":\"u1\",\"exp\":" + (nbf + 600) + ",\"nbf\":" + nbf + "}");
    clock.setTo((nbf - 30) * 1000 - 1);
    assertTrue(message(v, early).startsWith("token not valid before"), "1 ms before nbf - skew");
    clock.setTo((nbf - 30) * 1000);
    assertEquals("u1", v.verifyAccess(early).userId(), "at nbf - skew");
  }

  /**
   * Issue 22: each segment has one spelling (RFC 4648 §3.5). Every other spelling of a segment's
   * last character that the JDK's decoder reads as the same bytes, re-signed so that only the
   * spelling is wrong, is refused; the canonical token verifies. A header of 16 bytes and claims of
   * 29 leave 4 and 2 unused bits; an HS256 signature 2, an RS256 (2048-bit) or ES256 one 4.
   */
  @Test
  void everySegmentHasOneSpelling() throws Exception {
    KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
    rsa.initialize(2048);
    KeyPair rsaPair = rsa.generateKeyPair();
    KeyPairGenerator ec = KeyPairGenerator.getInstance("EC");
    ec.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair ecPair = ec.generateKeyPair();
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(Tokens.key());
    assertArrayEquals(new int[] {15, 3, 3}, respellingsRefused(new TokenVerifier(Tokens.SECRET, null, 30), "HS256", mac::doFinal));
    assertArrayEquals(new int[] {15, 3, 15}, respellingsRefused(new TokenVerifier(null, TokenVerifier.readPublicKey(pem(rsaPair)), 30),
        "RS256", input -> sign("SHA256withRSA", rsaPair, input)));
    assertArrayEquals(new int[] {15, 3, 15}, respellingsRefused(new TokenVerifier(null, TokenVerifier.readPublicKey(pem(ecPair)), 30),
        "ES256", input -> sign("SHA256withECDSAinP1363Format", ecPair, input)));
  }

  private interface Signer {
    byte[] sign(byte[] input) throws Exception;
  }

  private static byte[] sign(String algorithm, KeyPair pair, byte[] input) throws Exception {
    Signature s = Signature.getInstance(algorithm);
    s.initSign(pair.getPrivate());
    s.update(input);
    return s.sign();
  }

  private static String signed(String header, String claims, Signer signer) throws Exception {
    String input = header + "." + claims;
    return input + "." + B64.encodeToString(signer.sign(input.getBytes(StandardCharsets.US_ASCII)));
  }

  /** How many other spellings of each segment's last character were refused (header, claims, signature). */
  private static int[] respellingsRefused(TokenVerifier v, String alg, Signer signer) throws Exception {
    String header = B64.encodeToString(("{\"alg\":\"" + alg + "\"} ").getBytes(StandardCharsets.UTF_8));
    String claims = B64.encodeToString(("{\"sub\":\"u1\",\"exp\":" + (Instant.now().getEpochSecond() + 600) + "}")
        .getBytes(StandardCharsets.UTF_8));
    String[] canonical = signed(header, claims, signer).split("\\.");
    assertEquals("u1", v.verifyAccess(String.join(".", canonical)).userId());
    int[] refused = new int[3];
    for (int part = 0; part < 3; part++) {
      String segment = canonical[part];
      byte[] bytes = Base64.getUrlDecoder().decode(segment);
      for (char c : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".toCharArray()) {
        String other = segment.substring(0, segment.length() - 1) + c;
        if (other.equals(segment) || !Arrays.equals(Base64.getUrlDecoder().decode(other), bytes)) {
          continue;
        }
        String[] parts = canonical.clone();
        parts[part] = other;
        String token = part == 2 ? String.join(".", parts) : signed(parts[0], parts[1], signer);
        String why = message(v, token);
        assertTrue(why.contains("canonical base64url"), alg + " part " + part + ": " + why);
        refused[part]++;
      }
    }
    return refused;
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

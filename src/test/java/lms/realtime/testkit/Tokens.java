package lms.realtime.testkit;

import io.jsonwebtoken.JwtBuilder;
import io.jsonwebtoken.Jwts;
import java.nio.charset.StandardCharsets;
import java.security.Key;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.spec.SecretKeySpec;

/** Mints tokens the way a learning platform would. */
public final class Tokens {
  public static final String SECRET = "test-secret-test-secret-test-secret-0123456789";
  private static final javax.crypto.SecretKey KEY = new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256");

  private Tokens() {}

  public static String student(String userId, String... courses) {
    return user(userId, "student", courses);
  }

  public static String instructor(String userId, String... courses) {
    return user(userId, "instructor", courses);
  }

  public static String user(String userId, String role, String... courses) {
    Map<String, String> map = new HashMap<>();
    for (String c : courses) {
      map.put(c, role);
    }
    return builder(userId).claim("name", "Name of " + userId).claim("courses", map).compact();
  }

  public static String admin(String userId) {
    return builder(userId).claim("roles", List.of("admin")).compact();
  }

  public static String service() {
    return builder("platform-backend").claim("roles", List.of("service")).compact();
  }

  public static String roomToken(String userId, String room, String role) {
    return builder(userId).claim("room", room).claim("role", role).compact();
  }

  /** A token with a given expiry and issue time (seconds from now). */
  public static String timed(String userId, long expiresInSeconds, long issuedSecondsAgo, String... courses) {
    Map<String, String> map = new HashMap<>();
    for (String c : courses) {
      map.put(c, "student");
    }
    Instant now = Instant.now();
    return Jwts.builder().subject(userId).claim("courses", map)
        .issuedAt(Date.from(now.minusSeconds(issuedSecondsAgo)))
        .expiration(Date.from(now.plusSeconds(expiresInSeconds)))
        .signWith(KEY, Jwts.SIG.HS256).compact();
  }

  /** An access token signed with any key and algorithm. */
  public static String signedWith(Key key, String userId) {
    return Jwts.builder().subject(userId).expiration(Date.from(Instant.now().plusSeconds(600))).signWith(key).compact();
  }

  /** An unsigned token ({@code alg: none}), built by hand. */
  public static String unsigned(String userId) {
    Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
    String header = b64.encodeToString("{\"alg\":\"none\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8));
    long exp = Instant.now().plusSeconds(600).getEpochSecond();
    String payload = b64.encodeToString(("{\"sub\":\"" + userId + "\",\"exp\":" + exp + "}").getBytes(StandardCharsets.UTF_8));
    return header + "." + payload + ".";
  }

  /** A token with this header and these claims, as JSON text, HS256-signed with the test secret by hand. */
  public static String handMade(String headerJson, String claimsJson) {
    Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
    String input = b64.encodeToString(headerJson.getBytes(StandardCharsets.UTF_8)) + "."
        + b64.encodeToString(claimsJson.getBytes(StandardCharsets.UTF_8));
    try {
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
      mac.init(KEY);
      return input + "." + b64.encodeToString(mac.doFinal(input.getBytes(StandardCharsets.US_ASCII)));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The same token spelled otherwise: the last character of its signature with the bits it carries
   * beyond the data changed, so it decodes to the same bytes (an HS256 signature's last character
   * carries two such bits; issue 22). Canonical base64url has one spelling only.
   */
  public static String respelled(String token) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (token.substring(token.lastIndexOf('.') + 1).length() % 4 == 0) {
      throw new IllegalArgumentException("a signature of a multiple of 4 characters has no unused bits");
    }
    char last = token.charAt(token.length() - 1);
    return token.substring(0, token.length() - 1) + alphabet.charAt(alphabet.indexOf(last) ^ 1);
  }

  public static JwtBuilder builder(String userId) {
    Instant now = Instant.now();
    return Jwts.builder().subject(userId).issuedAt(Date.from(now.minusSeconds(5)))
        .expiration(Date.from(now.plusSeconds(3600))).signWith(KEY, Jwts.SIG.HS256);
  }

  public static JwtBuilder unsignedBuilder(String userId) {
    Instant now = Instant.now();
    return Jwts.builder().subject(userId).issuedAt(Date.from(now.minusSeconds(5))).expiration(Date.from(now.plusSeconds(3600)));
  }

  public static javax.crypto.SecretKey key() {
    return KEY;
  }
}

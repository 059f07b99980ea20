package lms.realtime.auth;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.config.Settings;

/**
 * Verifies access tokens and room tokens ({@link Jws}: HS256 with the shared secret, RS256 with an
 * RSA public key, ES256 with an EC P-256 key; {@code alg: none} and every other algorithm are
 * refused before any signature work), then checks the time claims with the clock skew and reads
 * the claims of contract §1 and §4. The time claims are checked on the verifier's {@link Clock}: the
 * system clock, and in a node the sockets' wall clock ({@code NodeContext.time}), so that a test's
 * hand-moved time decides a 401 at the handshake as it decides the socket's 4001.
 */
public final class TokenVerifier {
  /** HS256 needs a key of at least 256 bits (RFC 7518 §3.2). */
  public static final int MIN_SECRET_BYTES = 32;
  /**
   * The latest time claim ({@code exp}, {@code nbf}, {@code iat}) accepted: 9999-12-31T23:59:59Z. Its
   * milliseconds, and a deadline computed from them, stay far inside a {@code long}.
   */
  static final long MAX_NUMERIC_DATE = 253_402_300_799L;
  /** RS256 needs an RSA key of at least 2048 bits (RFC 7518 §3.3). */
  private static final int MIN_RSA_BITS = 2048;

  private final Jws jws;
  private final long clockSkewMillis;
  private final Clock clock;

  public TokenVerifier(String secret, PublicKey publicKey, long clockSkewSeconds) {
    this(secret, null, publicKey, clockSkewSeconds);
  }

  /** {@code demoSecret}: a second HS256 secret accepted beside the configured one (demo mode), or null. */
  public TokenVerifier(String secret, String demoSecret, PublicKey publicKey, long clockSkewSeconds) {
    List<byte[]> secrets = new ArrayList<>(2);
    for (String s : new String[] {secret, demoSecret}) {
      if (s != null && !s.isEmpty()) {
        secrets.add(hmacKey(s));
      }
    }
    if (secrets.isEmpty() && publicKey == null) {
      throw new IllegalArgumentException("no token key configured");
    }
    checkPublicKey(publicKey);
    this.jws = new Jws(secrets, publicKey);
    this.clockSkewMillis = clockSkewSeconds * 1000;
    this.clock = Clock.systemUTC();
  }

  private TokenVerifier(Jws jws, long clockSkewMillis, Clock clock) {
    this.jws = jws;
    this.clockSkewMillis = clockSkewMillis;
    this.clock = clock;
  }

  /** The same keys and skew, the time claims checked on {@code other}. */
  public TokenVerifier on(Clock other) {
    return other.equals(clock) ? this : new TokenVerifier(jws, clockSkewMillis, other);
  }

  /**
   * Whether a token with this {@code exp} (seconds) is refused now: from {@code exp} plus the clock
   * skew on, the moment its socket is closed with 4001 (RFC 7519 §4.1.4: now must be before it).
   */
  public boolean expired(long expSeconds) {
    return expired(clock.millis(), expSeconds);
  }

  private boolean expired(long nowMillis, long expSeconds) {
    return nowMillis >= expSeconds * 1000 + clockSkewMillis;
  }

  /** Builds the verifier from settings; {@code demoSecret} (demo mode) is accepted beside the configured keys. */
  public static TokenVerifier fromSettings(Settings settings, String demoSecret) throws IOException {
    PublicKey key = settings.jwt().publicKeyFile().isEmpty() ? null : readPublicKey(Path.of(settings.jwt().publicKeyFile()));
    return new TokenVerifier(settings.jwt().secret(), demoSecret, key, settings.jwt().clockSkewSeconds());
  }

  private static byte[] hmacKey(String secret) {
    byte[] bytes = secret.getBytes(StandardCharsets.UTF_8);
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException(
          "LMS_JWT_SECRET must be at least " + MIN_SECRET_BYTES + " bytes for HS256 (RFC 7518 §3.2)");
    }
    return bytes;
  }

  private static void checkPublicKey(PublicKey key) {
    if (key instanceof RSAPublicKey rsa && rsa.getModulus().bitLength() < MIN_RSA_BITS) {
      throw new IllegalArgumentException("an RSA key for RS256 needs at least " + MIN_RSA_BITS + " bits (RFC 7518 §3.3)");
    }
    if (key instanceof ECPublicKey ec && ec.getParams().getCurve().getField().getFieldSize() != 256) {
      throw new IllegalArgumentException("an EC key for ES256 must be on P-256 (RFC 7518 §3.4)");
    }
  }

  /** Reads a PEM {@code PUBLIC KEY} (X.509 SubjectPublicKeyInfo), RSA or EC. */
  public static PublicKey readPublicKey(Path file) throws IOException {
    String pem = Files.readString(file);
    String base64 =
        pem.replaceAll("-----BEGIN [A-Z ]+-----", "")
            .replaceAll("-----END [A-Z ]+-----", "")
            .replaceAll("\\s", "");
    byte[] der = Base64.getDecoder().decode(base64);
    for (String algorithm : List.of("RSA", "EC")) {
      try {
        return KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(der));
      } catch (Exception tryNext) {
        // not this kind of key
      }
    }
    throw new IOException("not an RSA or EC public key in PEM format: " + file);
  }

  /** The token of an {@code Authorization: Bearer …} header value (prefix case-insensitive), or null. */
  public static String bearer(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return null;
    }
    return authorization.substring(7).trim();
  }

  /**
   * Verifies an access token (contract §1). A token with a {@code room} claim is a room token (§4)
   * and is refused here: the two kinds are not interchangeable (contract §9).
   */
  public Identity verifyAccess(String token) throws TokenException {
    JsonNode claims = verify(token);
    if (claims.has("room")) {
      throw new TokenException("a room token is not an access token");
    }
    String sub = text(claims, "sub");
    if (sub == null || sub.isBlank()) {
      throw new TokenException("token has no sub");
    }
    return new Identity(sub, text(claims, "name"), roles(claims.get("roles")), courses(claims.get("courses")),
        seconds(claims, "exp"), issuedAt(claims));
  }

  /** Verifies a room token (contract §4). */
  public RoomGrant verifyRoomToken(String token) throws TokenException {
    JsonNode claims = verify(token);
    String sub = text(claims, "sub");
    String room = text(claims, "room");
    String role = text(claims, "role");
    if (sub == null || room == null || !("student".equals(role) || "instructor".equals(role))) {
      throw new TokenException("room token needs sub, room and role (student or instructor)");
    }
    return new RoomGrant(sub, room, role, seconds(claims, "exp"), issuedAt(claims));
  }

  /** The claims of a token that is signed with a configured key and valid now (exp, nbf). */
  private JsonNode verify(String token) throws TokenException {
    if (token == null || token.isBlank()) {
      throw new TokenException("no token");
    }
    JsonNode claims = jws.verify(token);
    long now = clock.millis();
    if (!claims.has("exp")) {
      throw new TokenException("token has no exp");
    }
    // whole seconds, as the socket's 4001 deadline reads it: a token accepted is never already due for 4001
    long expSeconds = seconds(claims, "exp");
    if (expired(now, expSeconds)) {
      throw new TokenException("token expired at " + Instant.ofEpochSecond(expSeconds));
    }
    JsonNode nbf = claims.get("nbf");
    if (nbf != null && now + clockSkewMillis < millis(nbf, "nbf")) {
      throw new TokenException("token not valid before " + Instant.ofEpochMilli(millis(nbf, "nbf")));
    }
    if (claims.has("iat")) {
      millis(claims.get("iat"), "iat"); // must be a NumericDate; it is not checked against the clock
    }
    return claims;
  }

  /**
   * A NumericDate (seconds since the epoch, RFC 7519 §2) in milliseconds; a fraction is kept to the
   * millisecond. Only 0 to {@link #MAX_NUMERIC_DATE}: {@code 1e300} once read as "never expires"
   * (and overflowed into an immediate 4001 at /ws), {@code 1e400} as infinity (issue 22).
   */
  private static long millis(JsonNode value, String claim) throws TokenException {
    if (!value.isNumber()) {
      throw new TokenException("claim " + claim + " must be a number of seconds since the epoch");
    }
    double seconds = value.asDouble();
    if (!(seconds >= 0 && seconds <= MAX_NUMERIC_DATE)) { // NaN and infinities fail too
      throw new TokenException("claim " + claim + " must be seconds since the epoch from 0 to " + MAX_NUMERIC_DATE
          + " (" + Instant.ofEpochSecond(MAX_NUMERIC_DATE) + "), not " + value.asText());
    }
    return (long) (seconds * 1000);
  }

  private static long seconds(JsonNode claims, String claim) throws TokenException {
    return millis(claims.get(claim), claim) / 1000;
  }

  private static Long issuedAt(JsonNode claims) throws TokenException {
    JsonNode iat = claims.get("iat");
    return iat == null ? null : millis(iat, "iat") / 1000;
  }

  /** A string claim, or null when absent or of another type. */
  private static String text(JsonNode claims, String claim) {
    JsonNode v = claims.get(claim);
    return v != null && v.isTextual() ? v.asText() : null;
  }

  private static Set<String> roles(JsonNode claim) throws TokenException {
    if (claim == null || claim.isNull()) {
      return Set.of();
    }
    if (!claim.isArray()) {
      throw new TokenException("claim roles must be an array of strings");
    }
    Set<String> roles = new HashSet<>();
    for (JsonNode r : claim) {
      if (!r.isTextual()) {
        throw new TokenException("claim roles must be an array of strings");
      }
      roles.add(r.asText());
    }
    return Set.copyOf(roles);
  }

  private static Map<String, String> courses(JsonNode claim) throws TokenException {
    if (claim == null || claim.isNull()) {
      return Map.of();
    }
    if (!claim.isObject()) {
      throw new TokenException("claim courses must be an object");
    }
    Map<String, String> courses = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = claim.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw new TokenException("claim courses maps course ids to role strings");
      }
      courses.put(e.getKey(), e.getValue().asText());
    }
    return Map.copyOf(courses);
  }
}

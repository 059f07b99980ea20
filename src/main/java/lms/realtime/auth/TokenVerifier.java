package lms.realtime.auth;

import io.jsonwebtoken.Claims;
import io.jsonwebtoken.ExpiredJwtException;
import io.jsonwebtoken.JwsHeader;
import io.jsonwebtoken.JwtException;
import io.jsonwebtoken.JwtParser;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.LocatorAdapter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import lms.realtime.Settings;

/**
 * Verifies access tokens and room tokens with jjwt. Only the algorithms backed by a configured key
 * are accepted: HS256 with the shared secret, RS256 with an RSA public key, ES256 with an EC key.
 * {@code alg: none} and every other algorithm are refused before any signature work.
 */
public final class TokenVerifier {
  /** HS256 needs a key of at least 256 bits (RFC 7518 §3.2); jjwt enforces it too. */
  public static final int MIN_SECRET_BYTES = 32;

  private final SecretKey secret;
  private final PublicKey publicKey;
  private final String publicAlgorithm;
  private final JwtParser parser;

  public TokenVerifier(String secret, PublicKey publicKey, long clockSkewSeconds) {
    this.secret = secret == null || secret.isEmpty() ? null : hmacKey(secret);
    this.publicKey = publicKey;
    this.publicAlgorithm =
        publicKey instanceof RSAPublicKey ? "RS256" : publicKey instanceof ECPublicKey ? "ES256" : null;
    if (this.secret == null && this.publicKey == null) {
      throw new IllegalArgumentException("no token key configured");
    }
    this.parser =
        Jwts.parser()
            .keyLocator(new KeyForAlgorithm())
            .clockSkewSeconds(clockSkewSeconds)
            .build();
  }

  /** Builds the verifier from settings; an explicit secret (demo mode) takes the place of the configured one. */
  public static TokenVerifier fromSettings(Settings settings, String secretOverride) throws IOException {
    String secret = secretOverride != null ? secretOverride : settings.jwtSecret();
    PublicKey key = settings.jwtPublicKeyFile().isEmpty() ? null : readPublicKey(Path.of(settings.jwtPublicKeyFile()));
    return new TokenVerifier(secret, key, settings.clockSkewSeconds());
  }

  private static SecretKey hmacKey(String secret) {
    byte[] bytes = secret.getBytes(StandardCharsets.UTF_8);
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException(
          "LMS_JWT_SECRET must be at least " + MIN_SECRET_BYTES + " bytes for HS256 (RFC 7518 §3.2)");
    }
    return new SecretKeySpec(bytes, "HmacSHA256");
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

  private final class KeyForAlgorithm extends LocatorAdapter<Key> {
    @Override
    protected Key locate(JwsHeader header) {
      String alg = header.getAlgorithm();
      if ("HS256".equals(alg) && secret != null) {
        return secret;
      }
      if (alg != null && alg.equals(publicAlgorithm)) {
        return publicKey;
      }
      throw new RefusedAlgorithm(alg);
    }
  }

  private static final class RefusedAlgorithm extends JwtException {
    RefusedAlgorithm(String alg) {
      super("algorithm not accepted: " + alg);
    }
  }

  /** The token of an {@code Authorization: Bearer …} header value (prefix case-insensitive), or null. */
  public static String bearer(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return null;
    }
    return authorization.substring(7).trim();
  }

  /** Verifies an access token (contract §1). */
  public Identity verifyAccess(String token) throws TokenException {
    Claims claims = verify(token);
    String sub = claims.getSubject();
    if (sub == null || sub.isBlank()) {
      throw new TokenException("token has no sub");
    }
    Object name = claims.get("name");
    return new Identity(
        sub,
        name instanceof String s ? s : null,
        roles(claims.get("roles")),
        courses(claims.get("courses")),
        claims.getExpiration().toInstant().getEpochSecond(),
        issuedAt(claims));
  }

  /** Verifies a room token (contract §4). */
  public RoomGrant verifyRoomToken(String token) throws TokenException {
    Claims claims = verify(token);
    Object room = claims.get("room");
    Object role = claims.get("role");
    if (claims.getSubject() == null || !(room instanceof String r) || !("student".equals(role) || "instructor".equals(role))) {
      throw new TokenException("room token needs sub, room and role (student or instructor)");
    }
    return new RoomGrant(claims.getSubject(), r, (String) role, claims.getExpiration().toInstant().getEpochSecond(), issuedAt(claims));
  }

  private Claims verify(String token) throws TokenException {
    if (token == null || token.isBlank()) {
      throw new TokenException("no token");
    }
    Claims claims;
    try {
      claims = parser.parseSignedClaims(token).getPayload();
    } catch (ExpiredJwtException e) {
      throw new TokenException("token expired");
    } catch (JwtException | IllegalArgumentException e) {
      throw new TokenException("invalid token: " + e.getMessage());
    }
    if (claims.getExpiration() == null) {
      throw new TokenException("token has no exp");
    }
    return claims;
  }

  private static Long issuedAt(Claims claims) {
    Date iat = claims.getIssuedAt();
    return iat == null ? null : iat.toInstant().getEpochSecond();
  }

  private static Set<String> roles(Object claim) throws TokenException {
    if (claim == null) {
      return Set.of();
    }
    if (!(claim instanceof List<?> list)) {
      throw new TokenException("claim roles must be an array of strings");
    }
    Set<String> roles = new HashSet<>();
    for (Object r : list) {
      if (!(r instanceof String s)) {
        throw new TokenException("claim roles must be an array of strings");
      }
      roles.add(s);
    }
    return Set.copyOf(roles);
  }

  private static Map<String, String> courses(Object claim) throws TokenException {
    if (claim == null) {
      return Map.of();
    }
    if (!(claim instanceof Map<?, ?> map)) {
      throw new TokenException("claim courses must be an object");
    }
    Map<String, String> courses = new HashMap<>();
    for (Map.Entry<?, ?> e : map.entrySet()) {
      if (!(e.getValue() instanceof String role)) {
        throw new TokenException("claim courses maps course ids to role strings");
      }
      courses.put(String.valueOf(e.getKey()), role);
    }
    return Map.copyOf(courses);
  }
}

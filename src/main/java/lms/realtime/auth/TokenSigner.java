package lms.realtime.auth;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import lms.realtime.protocol.Json;

/**
 * Signs the tokens the engine mints itself: a demo node's (for its own page) and {@code --mint-token}'s
 * (for trying a cluster by hand). HS256 only, a compact JWS (RFC 7515 §7.1) with the header
 * {@code {"alg":"HS256","typ":"JWT"}}, the claims written by the engine's Jackson, base64url without
 * padding, on the JDK's HMAC: the platform mints the real ones, so this needs no JWT library at run
 * time, and what it writes is what {@link TokenVerifier} reads. Thread-safe.
 */
public final class TokenSigner {
  private static final Base64.Encoder BASE64URL = Base64.getUrlEncoder().withoutPadding();
  private static final String HEADER =
      BASE64URL.encodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.US_ASCII));

  private final SecretKeySpec key;

  /** {@code secret}: at least {@link TokenVerifier#MIN_SECRET_BYTES} bytes in UTF-8, as the verifier requires. */
  public TokenSigner(String secret) {
    byte[] bytes = secret.getBytes(StandardCharsets.UTF_8);
    if (bytes.length < TokenVerifier.MIN_SECRET_BYTES) {
      throw new IllegalArgumentException("an HS256 secret is at least " + TokenVerifier.MIN_SECRET_BYTES + " bytes");
    }
    this.key = new SecretKeySpec(bytes, "HmacSHA256");
  }

  /**
   * A token with {@code claims} (in their order), then {@code iat} at {@code now} and {@code exp}
   * {@code ttlSeconds} later (both whole seconds since the epoch).
   */
  public String sign(Map<String, ?> claims, Instant now, long ttlSeconds) {
    Map<String, Object> all = new LinkedHashMap<>(claims);
    all.put("iat", now.getEpochSecond());
    all.put("exp", now.getEpochSecond() + ttlSeconds);
    String signingInput;
    try {
      signingInput = HEADER + '.' + BASE64URL.encodeToString(Json.MAPPER.writeValueAsBytes(all));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("claims that are not JSON: " + e.getOriginalMessage(), e);
    }
    return signingInput + '.' + BASE64URL.encodeToString(hmac(signingInput));
  }

  private byte[] hmac(String signingInput) {
    try {
      // a Mac per token: minting is rare (a demo page's request, a command line), unlike verifying
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac.doFinal(signingInput.getBytes(StandardCharsets.US_ASCII));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("no HmacSHA256 in this JVM", e);
    }
  }
}

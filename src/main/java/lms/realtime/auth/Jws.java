package lms.realtime.auth;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Verifies a compact JWS (RFC 7515 §7.1) with the engine's keys, on the JDK's own crypto: HS256
 * with the shared secret, RS256 with an RSA public key, ES256 with an EC P-256 key. Every other
 * {@code alg}, {@code none} included, is refused before any signature work, and so is a header that
 * asks for what this verifier does not do ({@code crit}, {@code zip}). The signature is checked
 * before the claims are read. A {@link Mac} or {@link Signature} is kept per thread: making one per
 * token cost more than the HMAC itself (jjwt did, about 30 µs of a 115 µs verification).
 */
final class Jws {
  /** Bounds on a token's JSON: a token is small, and the handshake reads it before anything else. */
  private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder()
          .maxNestingDepth(16).maxStringLength(16 * 1024).maxNumberLength(32).maxDocumentLength(64 * 1024).build())
      .build());
  private static final Base64.Decoder BASE64URL = Base64.getUrlDecoder();
  private static final Base64.Encoder CANONICAL = Base64.getUrlEncoder().withoutPadding();

  private final List<SecretKeySpec> secrets;
  private final PublicKey publicKey;
  /** RS256 or ES256 when a public key is configured, else null. */
  private final String publicAlgorithm;
  private final List<ThreadLocal<Mac>> macs = new ArrayList<>(2);
  private final ThreadLocal<Signature> signature;

  /** {@code secrets}: the HS256 secrets accepted (none, the configured one, and a demo node's own). */
  Jws(List<byte[]> secrets, PublicKey publicKey) {
    this.secrets = new ArrayList<>(secrets.size());
    for (byte[] s : secrets) {
      SecretKeySpec key = new SecretKeySpec(s, "HmacSHA256");
      this.secrets.add(key);
      macs.add(ThreadLocal.withInitial(() -> {
        try {
          Mac m = Mac.getInstance("HmacSHA256");
          m.init(key);
          return m;
        } catch (GeneralSecurityException e) {
          throw new IllegalStateException("no HmacSHA256 in this JVM", e);
        }
      }));
    }
    this.publicKey = publicKey;
    this.publicAlgorithm = publicKey instanceof RSAPublicKey ? "RS256" : publicKey instanceof ECPublicKey ? "ES256" : null;
    this.signature = ThreadLocal.withInitial(() -> {
      try {
        // ES256 signatures are R || S, 32 bytes each (RFC 7518 §3.4): the JDK's P1363 format
        return Signature.getInstance("RS256".equals(publicAlgorithm) ? "SHA256withRSA" : "SHA256withECDSAinP1363Format");
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("no " + publicAlgorithm + " in this JVM", e);
      }
    });
  }

  /** The claims of a token whose signature is valid; throws with the reason in words otherwise. */
  JsonNode verify(String token) throws TokenException {
    int first = token.indexOf('.');
    int second = first < 0 ? -1 : token.indexOf('.', first + 1);
    if (first <= 0 || second < 0 || second == first + 1 || second == token.length() - 1 || token.indexOf('.', second + 1) >= 0) {
      throw new TokenException("not a JWT (three base64url parts separated by dots)");
    }
    JsonNode header = json(token, 0, first, "header");
    JsonNode alg = header.get("alg");
    if (alg == null || !alg.isTextual()) {
      throw new TokenException("not a JWT: the header has no alg");
    }
    if (header.has("crit") || header.has("zip") || header.has("b64")) {
      throw new TokenException("the token's header asks for extensions this engine does not accept (crit, zip, b64)");
    }
    byte[] signed = token.substring(0, second).getBytes(StandardCharsets.US_ASCII);
    byte[] sig = base64url(token, second + 1, token.length(), "signature");
    String algorithm = alg.asText();
    if ("HS256".equals(algorithm) && !macs.isEmpty()) {
      if (!signedWithASecret(signed, sig)) {
        throw new TokenException("bad signature");
      }
    } else if (algorithm.equals(publicAlgorithm)) {
      if (!verifiesWithPublicKey(signed, sig)) {
        throw new TokenException("bad signature");
      }
    } else {
      throw new TokenException("algorithm not accepted: " + algorithm);
    }
    return json(token, first + 1, second, "claims");
  }

  private boolean signedWithASecret(byte[] signed, byte[] sig) {
    for (ThreadLocal<Mac> mac : macs) {
      if (MessageDigest.isEqual(mac.get().doFinal(signed), sig)) {
        return true;
      }
    }
    return false;
  }

  private boolean verifiesWithPublicKey(byte[] signed, byte[] sig) {
    try {
      Signature s = signature.get();
      s.initVerify(publicKey);
      s.update(signed);
      return s.verify(sig);
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      return false; // a signature of the wrong shape is a bad signature
    }
  }

  private static JsonNode json(String token, int from, int to, String part) throws TokenException {
    byte[] bytes = base64url(token, from, to, part);
    JsonNode node;
    try {
      node = JSON.readTree(bytes);
    } catch (java.io.IOException e) {
      throw new TokenException("not a JWT: its " + part + " is not JSON");
    }
    if (node == null || !node.isObject()) {
      throw new TokenException("not a JWT: its " + part + " is not a JSON object");
    }
    return node;
  }

  /**
   * Unpadded base64url (RFC 7515 §2), nothing else, in its one canonical spelling: the JDK's decoder
   * ignores the bits a last character carries beyond the data, so without the check a signed token
   * had up to 16 spellings that all verify, and a deny-list or cache keyed on the token string could
   * be sidestepped (RFC 4648 §3.5 lets a decoder refuse them; issue 22).
   */
  private static byte[] base64url(String token, int from, int to, String part) throws TokenException {
    for (int i = from; i < to; i++) {
      char c = token.charAt(i);
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
        throw new TokenException("not a JWT: its " + part + " is not base64url");
      }
    }
    String text = token.substring(from, to);
    byte[] bytes;
    try {
      bytes = BASE64URL.decode(text);
    } catch (IllegalArgumentException e) {
      throw new TokenException("not a JWT: its " + part + " is not base64url");
    }
    if (!CANONICAL.encodeToString(bytes).equals(text)) {
      throw new TokenException("not a JWT: its " + part + " is not canonical base64url (unused bits set in its last character)");
    }
    return bytes;
  }
}

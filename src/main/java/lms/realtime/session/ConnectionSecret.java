package lms.realtime.session;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * An unguessable secret that belongs to one connection: the HTTP fallback's post token and poll
 * token (contract §10). 32 bytes from {@link SecureRandom}, in base64url; a presented value is
 * compared in constant time. It is never logged: {@link #toString} hides it, and only
 * {@link #text} (for the one frame or header that hands it to its client) shows it.
 */
public final class ConnectionSecret {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final int BYTES = 32;

  private final String text;
  private final byte[] ascii;

  private ConnectionSecret(String text) {
    this.text = text;
    this.ascii = text.getBytes(StandardCharsets.US_ASCII);
  }

  public static ConnectionSecret random() {
    byte[] bytes = new byte[BYTES];
    RANDOM.nextBytes(bytes);
    return new ConnectionSecret(Base64.getUrlEncoder().withoutPadding().encodeToString(bytes));
  }

  /** The secret itself, for its client only. */
  public String text() {
    return text;
  }

  /** Whether {@code presented} is this secret; in time that does not depend on where they differ. */
  public boolean matches(String presented) {
    return presented != null && MessageDigest.isEqual(ascii, presented.getBytes(StandardCharsets.US_ASCII));
  }

  @Override
  public String toString() {
    return "ConnectionSecret[hidden]";
  }
}

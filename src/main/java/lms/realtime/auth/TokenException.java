package lms.realtime.auth;

/** A token that is missing, malformed, badly signed, expired, or signed with a refused algorithm. */
public final class TokenException extends Exception {
  public TokenException(String message) {
    super(message, null, false, false);
  }
}

package lms.realtime.protocol;

/**
 * The {@code code} values of the {@code error} frame (contract §3), and the {@code error} values of
 * the HTTP answers (handshake refusals, backend API).
 */
public final class ErrorCodes {
  public static final String BAD_REQUEST = "bad_request";
  public static final String FORBIDDEN = "forbidden";
  public static final String NOT_JOINED = "not_joined";
  public static final String RATE_LIMITED = "rate_limited";
  public static final String TOO_LARGE = "too_large";
  public static final String UNKNOWN_TYPE = "unknown_type";
  public static final String UNAVAILABLE = "unavailable";
  public static final String NOT_FOUND = "not_found";
  public static final String UNAUTHORIZED = "unauthorized";
  public static final String INTERNAL = "internal";
  public static final String TOO_MANY_CONNECTIONS = "too_many_connections";
  public static final String ORIGIN_NOT_ALLOWED = "origin_not_allowed";

  private ErrorCodes() {}
}

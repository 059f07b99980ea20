package lms.realtime.protocol;

/** The {@code code} values of the {@code error} frame (contract §3). */
public final class ErrorCodes {
  public static final String BAD_REQUEST = "bad_request";
  public static final String FORBIDDEN = "forbidden";
  public static final String NOT_JOINED = "not_joined";
  public static final String RATE_LIMITED = "rate_limited";
  public static final String TOO_LARGE = "too_large";
  public static final String UNKNOWN_TYPE = "unknown_type";
  public static final String UNAVAILABLE = "unavailable";

  private ErrorCodes() {}
}

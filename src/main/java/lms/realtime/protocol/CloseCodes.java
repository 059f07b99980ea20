package lms.realtime.protocol;

/** WebSocket close codes the engine uses (contract §5). */
public final class CloseCodes {
  public static final int NORMAL = 1000;
  public static final int PROTOCOL_ERROR = 1002;
  public static final int BINARY = 1003;
  public static final int INVALID_PAYLOAD = 1007;
  public static final int POLICY = 1008;
  public static final int TOO_LARGE = 1009;
  public static final int INTERNAL = 1011;
  public static final int RESTARTING = 1012;
  public static final int TRY_AGAIN_LATER = 1013;
  public static final int TOKEN_EXPIRED = 4001;
  public static final int HEARTBEAT_MISSED = 4002;
  public static final int SLOW_CONSUMER = 4008;
  public static final int RATE_LIMITED = 4029;

  /** Codes after which the client should come back, so their reason carries retry advice. */
  public static boolean advisesRetry(int code) {
    return code == RESTARTING || code == TRY_AGAIN_LATER || code == SLOW_CONSUMER || code == RATE_LIMITED;
  }

  private CloseCodes() {}
}

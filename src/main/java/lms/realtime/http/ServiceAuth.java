package lms.realtime.http;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import lms.realtime.auth.Identity;
import lms.realtime.auth.TokenException;
import lms.realtime.auth.TokenVerifier;

/**
 * Who may call the backend API (contract §6): a valid access token with the {@code service} role;
 * none or an invalid one is 401, a token without the role 403. A platform's backend sends the same
 * service token with every call until it expires, so a verified one is remembered (up to
 * {@link #REMEMBERED} tokens, until the verifier would refuse it: {@code exp} plus the clock skew, on
 * the verifier's clock, the node's wall clock): a call then costs a map lookup instead of a signature
 * check and a claims parse, and is refused at the same moment as one that is checked. Tokens are
 * compared as strings, which is sound because the verifier accepts one spelling of a token only
 * (canonical base64url).
 */
public final class ServiceAuth {
  /** Verified service tokens kept at most; past it the memory is cleared and fills again. */
  static final int REMEMBERED = 1024;

  private final TokenVerifier verifier;
  private final Map<String, Identity> verified = new ConcurrentHashMap<>();

  ServiceAuth(TokenVerifier verifier) {
    this.verifier = verifier;
  }

  /** Null when the {@code Authorization} header value admits the call; else its 401 or 403. */
  public ApiError refusal(String authorization) {
    String bearer = TokenVerifier.bearer(authorization);
    if (bearer == null) {
      return ApiError.unauthorized("a service token is required (Authorization: Bearer)");
    }
    Identity who = verified.get(bearer);
    if (who == null || verifier.expired(who.expiresAt())) {
      try {
        who = verifier.verifyAccess(bearer);
      } catch (TokenException e) {
        verified.remove(bearer);
        return ApiError.unauthorized(e.getMessage());
      }
      if (who.isService()) {
        if (verified.size() >= REMEMBERED) {
          verified.clear();
        }
        verified.put(bearer, who);
      }
    }
    if (!who.isService()) {
      return ApiError.forbidden("the token lacks the service role");
    }
    return null;
  }
}

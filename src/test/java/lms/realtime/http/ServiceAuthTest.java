package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import lms.realtime.auth.TokenVerifier;
import lms.realtime.testkit.TestClock;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Test;

/**
 * The backend API's service tokens on a clock moved by hand. A verified service token is remembered
 * (a call then skips the signature check); the memory must not outlive the token: it is refused
 * from {@code exp} plus the skew on, the moment the verifier refuses it, remembered or not.
 */
class ServiceAuthTest {
  private static final long SKEW = 30;
  private static final long EXP = 1_800_000_600L;

  private final TestClock clock = new TestClock(1_800_000_000_000L);
  private final ServiceAuth auth = new ServiceAuth(new TokenVerifier(Tokens.SECRET, null, SKEW).on(clock));

  private static String bearer(String sub, String roles, String exp) {
    return "Bearer " + Tokens.handMade("{\"alg\":\"HS256\"}",
        "{\"sub\":\"" + sub + "\",\"roles\":" + roles + ",\"exp\":" + exp + "}");
  }

  /** 200 when the call is admitted, else its refusal's status. */
  private int status(String authorization) {
    ApiError refused = auth.refusal(authorization);
    return refused == null ? 200 : refused.status();
  }

  /** A remembered service token, and one with a fraction of a second in its exp, each refused at exp + skew. */
  @Test
  void aRememberedServiceTokenExpiresWithTheToken() {
    for (String exp : new String[] {EXP + "", EXP + ".9"}) {
      clock.setTo(1_800_000_000_000L);
      String token = bearer("backend", "[\"service\"]", exp);
      assertEquals(200, status(token), "verified, then remembered");
      clock.setTo((EXP + SKEW) * 1000 - 1);
      assertEquals(200, status(token), "remembered, 1 ms before exp + skew");
      clock.setTo((EXP + SKEW) * 1000);
      assertEquals(401, status(token), "exp " + exp + " at exp + skew");
      assertTrue(auth.refusal(token).message().contains("expired"));
    }
  }

  /** Not remembered first: the same edge. */
  @Test
  void aServiceTokenFirstSeenAtTheEdge() {
    String token = bearer("backend", "[\"service\"]", EXP + "");
    clock.setTo((EXP + SKEW) * 1000 - 1);
    assertEquals(200, status(token));
    clock.setTo((EXP + SKEW) * 1000);
    assertEquals(401, status(token));
  }

  /** A valid token without the role is 403 until it expires, then 401 like any expired token. */
  @Test
  void withoutTheServiceRole() {
    String token = bearer("student", "[]", EXP + "");
    assertEquals(403, status(token));
    clock.setTo((EXP + SKEW) * 1000 - 1);
    assertEquals(403, status(token));
    clock.setTo((EXP + SKEW) * 1000);
    assertEquals(401, status(token));
    assertEquals(401, status(null), "no Authorization header");
  }
}

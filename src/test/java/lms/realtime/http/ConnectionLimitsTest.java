package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import lms.realtime.testkit.WsClient;
import lms.realtime.testkit.WsClient.HandshakeRefused;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Contract §2/§5: the per-user and per-IP connection limits, hit through real sockets. */
@Tag("socket")
class ConnectionLimitsTest {

  @Test
  void perUserLimitAnswers429AndAClosedSocketFreesItsSlot() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.max-connections-per-user", 2))) {
      String token = Tokens.student("limited");
      WsClient a = node.connect(token);
      WsClient b = node.connect(token);
      a.expect("welcome");
      b.expect("welcome");
      HandshakeRefused r = assertThrows(HandshakeRefused.class, () -> node.connect(token));
      assertEquals(429, r.status);
      assertEquals("too_many_connections", WsClient.JSON.readTree(r.body).get("error").asText());
      assertNotNull(r.retryAfter, "429 carries Retry-After");
      // another user is not affected
      try (WsClient other = node.connect(Tokens.student("someone-else"))) {
        other.expect("welcome");
      }
      a.close();
      WsClient c = node.connectOnceFreed(token);
      c.expect("welcome");
      b.close();
      c.close();
    }
  }

  @Test
  void perIpLimitAnswers429() throws Exception {
    try (TestNode node = TestNode.start(Map.of("lms.limits.max-connections-per-ip", 3))) {
      List<WsClient> open = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        open.add(node.connect(Tokens.student("ip-" + i)));
      }
      HandshakeRefused r = assertThrows(HandshakeRefused.class, () -> node.connect(Tokens.student("ip-3")));
      assertEquals(429, r.status);
      assertNotNull(r.retryAfter);
      open.get(0).close();
      node.connectOnceFreed(Tokens.student("ip-4")).close();
      open.forEach(WsClient::close);
    }
  }

  @Test
  void forwardedForIsIgnoredFromAnUntrustedPeer() {
    try (TestNode node = TestNode.start(Map.of("lms.limits.max-connections-per-ip", 1))) {
      WsClient first = WsClient.connect(node.wsUrl() + "?token=" + Tokens.student("x1"), Map.of("X-Forwarded-For", "10.0.0.1"));
      HandshakeRefused r = assertThrows(HandshakeRefused.class,
          () -> WsClient.connect(node.wsUrl() + "?token=" + Tokens.student("x2"), Map.of("X-Forwarded-For", "10.0.0.2")));
      assertEquals(429, r.status);
      first.close();
    }
  }

  @Test
  void forwardedForIsBelievedFromATrustedProxy() {
    try (TestNode node = TestNode.start(Map.of("lms.limits.max-connections-per-ip", 1, "lms.http.trusted-proxies", "127.0.0.1"))) {
      WsClient a = WsClient.connect(node.wsUrl() + "?token=" + Tokens.student("y1"), Map.of("X-Forwarded-For", "10.0.0.1"));
      WsClient b = WsClient.connect(node.wsUrl() + "?token=" + Tokens.student("y2"), Map.of("X-Forwarded-For", "10.0.0.2"));
      HandshakeRefused r = assertThrows(HandshakeRefused.class,
          () -> WsClient.connect(node.wsUrl() + "?token=" + Tokens.student("y3"), Map.of("X-Forwarded-For", "10.0.0.1")));
      assertEquals(429, r.status);
      a.close();
      b.close();
    }
  }
}

package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import lms.realtime.testkit.NodePerClass;
import lms.realtime.testkit.RawHttp;
import lms.realtime.testkit.Tokens;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 22: a request goes where its request line says, whatever its {@code Host}, and a request
 * whose Host is missing, repeated or not {@code host[:port]} is a 400 that reaches no route (RFC 9112
 * §3.2), on both transports. The netty transport used to build the address as {@code "http://" +
 * Host + target}, so a Host with a path in it re-routed the request (past a proxy that filters by path).
 */
@Tag("socket")
class HostHeaderTest {
  @RegisterExtension
  static final NodePerClass NODE = new NodePerClass();

  private static String get(String target, String headers) throws Exception {
    return RawHttp.exchange(NODE.get().port, "GET " + target + " HTTP/1.1\r\n" + headers + "\r\n");
  }

  private static String upgrade(String host) throws Exception {
    return get("/ws?token=" + Tokens.student("host-user"), host + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n");
  }

  @Test
  void aHostWithAPathDoesNotReRouteTheRequest() throws Exception {
    String metrics = get("/health/live", "Host: 127.0.0.1/metrics?\r\n");
    assertEquals(400, RawHttp.status(metrics), metrics);
    assertFalse(metrics.contains("# HELP"), "the metrics were not served: " + metrics);
    String api = get("/sdk/lms-realtime.js", "Host: x/api/v1/users/x/presence?\r\n");
    assertEquals(400, RawHttp.status(api), api);
    assertFalse(api.contains("service token"), "the backend API was not reached: " + api);
    String live = get("/health/live", "Host: 127.0.0.1\r\n");
    assertEquals(200, RawHttp.status(live), live);
    assertTrue(live.contains("alive"), live);
  }

  @Test
  void aMissingRepeatedOrMalformedHostIs400() throws Exception {
    String[] refused = {
        "", "Host: a\r\nHost: b\r\n", "Host: a\r\nHost: a\r\n", "Host: \r\n", "Host: :80\r\n", "Host: a:\r\n",
        "Host: a:99999\r\n", "Host: a:80x\r\n", "Host: user@a\r\n", "Host: a b\r\n", "Host: a/b\r\n", "Host: a?b\r\n",
        "Host: a#b\r\n", "Host: [zz]\r\n", "Host: [v1.x]\r\n", "Host: [1.2.3.4]\r\n", "Host: a%zz\r\n",
        "Host: a:00000080\r\n"};
    for (String host : refused) {
      String response = get("/health/live", host);
      assertEquals(400, RawHttp.status(response), "[" + host.strip() + "] " + response);
    }
    String http10 = RawHttp.exchange(NODE.get().port, "GET /health/live HTTP/1.0\r\n\r\n");
    assertEquals(400, RawHttp.status(http10), "HTTP/1.0 without Host, as pekko-http answers it: " + http10);
    String[] accepted = {
        "127.0.0.1", "127.0.0.1:" + NODE.get().port, "localhost", "school.example:443", "[::1]", "[::1]:8080",
        "[::ffff:127.0.0.1]", "A-b_c~d!$&'()*+,;=.x", "a%41b", "a:0"};
    for (String host : accepted) {
      String response = get("/health/live", "Host: " + host + "\r\n");
      assertEquals(200, RawHttp.status(response), "[" + host + "] " + response);
    }
  }

  @Test
  void aWebSocketHandshakeNeedsAValidHostToo() throws Exception {
    for (String host : new String[] {"Host: 127.0.0.1/metrics?\r\n", "Host: a\r\nHost: b\r\n", ""}) {
      String response = upgrade(host);
      assertEquals(400, RawHttp.status(response), "[" + host.strip() + "] " + response);
    }
    String admitted = upgrade("Host: 127.0.0.1\r\n");
    assertEquals(101, RawHttp.status(admitted), admitted);
  }

  /** RFC 9112 §3.2.2: an absolute-form target is routed by its own path, when its authority is the Host's. */
  @Test
  void anAbsoluteFormTargetIsRoutedByItsPath() throws Exception {
    String live = get("http://127.0.0.1/health/live", "Host: 127.0.0.1\r\n");
    assertEquals(200, RawHttp.status(live), live);
    assertTrue(live.contains("alive"), live);
    String other = get("http://elsewhere/metrics", "Host: 127.0.0.1\r\n");
    assertEquals(400, RawHttp.status(other), other);
    assertFalse(other.contains("# HELP"), other);
  }
}

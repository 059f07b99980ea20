package lms.realtime.session;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Which address the per-IP limit counts behind proxies (issue 12, item 7). */
class ClientAddressTest {
  static final Set<String> PROXIES = Set.of("10.0.0.1", "::1");

  @Test
  void aPeerThatIsNoTrustedProxyIsTheClient() {
    assertEquals("203.0.113.9", ClientAddress.of("203.0.113.9", List.of("6.6.6.6"), PROXIES));
  }

  @Test
  void theRightMostUntrustedHopIsTheClient() {
    assertEquals("198.51.100.7", ClientAddress.of("10.0.0.1", List.of("6.6.6.6, 198.51.100.7"), PROXIES));
    assertEquals("198.51.100.7", ClientAddress.of("10.0.0.1", List.of("6.6.6.6, 198.51.100.7, 10.0.0.1"), PROXIES));
  }

  /** HAProxy adds its own header line: the client's own line comes first and is not believed. */
  @Test
  void everyHeaderLineCounts() {
    assertEquals("198.51.100.7", ClientAddress.of("10.0.0.1", List.of("6.6.6.6", "198.51.100.7"), PROXIES));
  }

  /** Addresses are compared as addresses: ::1 is 0:0:0:0:0:0:0:1, and 10.0.0.1 matches ::ffff:10.0.0.1. */
  @Test
  void addressesAreComparedNotStrings() {
    assertEquals("198.51.100.7", ClientAddress.of("0:0:0:0:0:0:0:1", List.of("198.51.100.7"), PROXIES));
    assertEquals("198.51.100.7", ClientAddress.of("::ffff:10.0.0.1", List.of("198.51.100.7"), PROXIES));
    assertEquals("2001:db8:0:0:0:0:0:1", ClientAddress.of("10.0.0.1", List.of("2001:db8::1"), PROXIES), "in one spelling");
  }

  @Test
  void whatIsNotAnAddressIsNotBelieved() {
    assertEquals("10.0.0.1", ClientAddress.of("10.0.0.1", List.of("6.6.6.6, unknown"), PROXIES));
    assertEquals("10.0.0.1", ClientAddress.of("10.0.0.1", List.of(), PROXIES));
    assertEquals("10.0.0.1", ClientAddress.of("10.0.0.1", List.of("::1, 10.0.0.1"), PROXIES), "only proxies: the peer");
  }
}

package lms.realtime.session;

import java.util.List;
import java.util.Set;

/**
 * The client's IP for the per-IP limit. {@code X-Forwarded-For} is believed only when the direct peer
 * is a configured trusted proxy; then the client is the right-most address not itself a trusted proxy
 * (the left-most entries are whatever the client chose to send).
 */
final class ClientAddress {
  private ClientAddress() {}

  static String of(String peer, List<String> forwardedFor, Set<String> trustedProxies) {
    if (!trustedProxies.contains(peer)) {
      return peer;
    }
    String forwarded = forwardedFor.isEmpty() ? "" : forwardedFor.get(0);
    String[] hops = forwarded.split(",");
    for (int i = hops.length - 1; i >= 0; i--) {
      String hop = hops[i].trim();
      if (!hop.isEmpty() && !trustedProxies.contains(hop)) {
        return hop;
      }
    }
    return peer;
  }
}

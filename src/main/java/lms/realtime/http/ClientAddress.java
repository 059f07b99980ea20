package lms.realtime.http;

import java.util.Set;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.RemoteAddress;

/**
 * The client's IP for the per-IP limit. {@code X-Forwarded-For} is believed only when the direct peer
 * is a configured trusted proxy; then the client is the right-most address not itself a trusted proxy
 * (the left-most entries are whatever the client chose to send).
 */
final class ClientAddress {
  private ClientAddress() {}

  static String of(HttpRequest request, Set<String> trustedProxies) {
    String peer = request.getAttribute(AttributeKeys.remoteAddress)
        .flatMap(RemoteAddress::getAddress)
        .map(java.net.InetAddress::getHostAddress)
        .orElse("unknown");
    if (!trustedProxies.contains(peer)) {
      return peer;
    }
    String forwarded = request.getHeader("X-Forwarded-For").map(h -> h.value()).orElse("");
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

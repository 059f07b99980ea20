package lms.realtime.session;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The client's IP for the per-IP limit. {@code X-Forwarded-For} is believed only when the direct peer
 * is a configured trusted proxy; then the client is the right-most hop, across every header line,
 * that is not itself a trusted proxy: the left-most entries, and a line the client sent itself ahead
 * of the proxy's own, are whatever the client chose. Addresses are compared as addresses, not as
 * text ({@code ::1} is {@code 0:0:0:0:0:0:0:1}, {@code ::ffff:10.0.0.1} is {@code 10.0.0.1}); a hop
 * that is not an IP address is not believed, and neither is anything left of it.
 */
final class ClientAddress {
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

  private ClientAddress() {}

  static String of(String peer, List<String> forwardedFor, Set<String> trustedProxies) {
    InetAddress peerAddress = parse(peer);
    Set<InetAddress> trusted = addresses(trustedProxies);
    if (peerAddress == null || !trusted.contains(peerAddress)) {
      return peerAddress == null ? peer : peerAddress.getHostAddress();
    }
    List<String> hops = new ArrayList<>();
    for (String line : forwardedFor) {
      for (String hop : line.split(",")) {
        hops.add(hop.trim());
      }
    }
    for (int i = hops.size() - 1; i >= 0; i--) {
      InetAddress hop = parse(hops.get(i));
      if (hop == null) {
        break; // not an address: nothing from here leftwards is believed
      }
      if (!trusted.contains(hop)) {
        return hop.getHostAddress();
      }
    }
    return peerAddress.getHostAddress();
  }

  static Set<InetAddress> addresses(Set<String> literals) {
    Set<InetAddress> out = new HashSet<>();
    for (String s : literals) {
      InetAddress a = parse(s);
      if (a != null) {
        out.add(a);
      }
    }
    return out;
  }

  /** An IP literal as an address (never a name lookup), or null when it is not one. */
  static InetAddress parse(String s) {
    if (s == null || s.isEmpty()) {
      return null;
    }
    String literal = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
    if (!IPV4.matcher(literal).matches() && (literal.indexOf(':') < 0 || !literal.matches("[0-9A-Fa-f:.]+"))) {
      return null;
    }
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      return null;
    }
  }
}

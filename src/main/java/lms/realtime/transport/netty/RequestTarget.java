package lms.realtime.transport.netty;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a request on the netty transport goes: the path and query of its request line alone, and its
 * {@code Host} checked as pekko-http's server checks it, so that both transports route the same
 * requests and refuse the same ones with 400 (issue 22: the request's address used to be
 * {@code "http://" + Host + target}, and {@code Host: x/metrics?} re-routed any request to the metrics).
 *
 * <p>RFC 9112 §3.2: exactly one {@code Host}, of RFC 3986's {@code uri-host [":" port]} (a reg-name,
 * an IPv4 address or a bracketed IPv6 one, and a port of 0-65535). As on pekko-http it is required on
 * HTTP/1.0 too, and may not be empty. An absolute-form target ({@code GET http://host/path}, §3.2.2)
 * is taken when its scheme is http, https, ws or wss and its authority is the Host's (pekko-http's
 * rule: the RFC lets the target's authority win, both transports are stricter); its path and query
 * are then the request's. Any other target but an origin-form one ({@code /path?query}) is refused.
 */
record RequestTarget(String host, String pathAndQuery) {
  /** RFC 3986 reg-name (IPv4 addresses are reg-names too), or an IP-literal, then an optional port. */
  private static final Pattern HOST = Pattern.compile(
      "((?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+|\\[[0-9A-Fa-f:.]+\\])(?::([0-9]{1,5}))?");
  private static final Pattern ABSOLUTE = Pattern.compile("(?i)(?:https?|wss?)://([^/?#]*)([^#]*)");
  private static final int MAX_PORT = 65_535;

  /** A request that has no address the routes may see; its message says why (the 400's). */
  static final class Refused extends Exception {
    Refused(String message) {
      super(message);
    }
  }

  /** The request's address, or why it has none. */
  static RequestTarget of(HttpRequest request) throws Refused {
    List<String> hosts = request.headers().getAll(HttpHeaderNames.HOST);
    if (hosts.isEmpty()) {
      throw new Refused("a request needs a Host header");
    }
    if (hosts.size() > 1) {
      throw new Refused("more than one Host header");
    }
    String host = hosts.get(0).strip();
    if (!validHost(host)) {
      throw new Refused("not a valid Host: host[:port]");
    }
    String target = request.uri();
    if (target.startsWith("/")) {
      return new RequestTarget(host, target);
    }
    Matcher absolute = ABSOLUTE.matcher(target);
    if (!absolute.matches()) {
      throw new Refused("not a request target: /path?query");
    }
    if (!absolute.group(1).toLowerCase(Locale.ROOT).equals(host.toLowerCase(Locale.ROOT))) {
      throw new Refused("the Host header is not the authority of the request target");
    }
    String rest = absolute.group(2);
    return new RequestTarget(host, rest.startsWith("/") ? rest : "/" + rest);
  }

  /** The address as pekko-http's server gives it to the routes: absolute, with the Host. */
  String uri() {
    return "http://" + host + pathAndQuery;
  }

  static boolean validHost(String host) {
    Matcher m = HOST.matcher(host);
    if (!m.matches() || (m.group(2) != null && Integer.parseInt(m.group(2)) > MAX_PORT)) {
      return false;
    }
    String name = m.group(1);
    return !name.startsWith("[") || isIpv6(name);
  }

  /** A bracketed IPv6 literal (parsed, never looked up: the JDK resolves no name in brackets). */
  private static boolean isIpv6(String bracketed) {
    try {
      return InetAddress.getByName(bracketed) != null;
    } catch (UnknownHostException e) {
      return false;
    }
  }
}

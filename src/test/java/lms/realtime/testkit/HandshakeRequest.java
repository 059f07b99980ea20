package lms.realtime.testkit;

import java.util.List;
import lms.realtime.session.Handshake;

/**
 * A handshake's request as a transport would hand it over, for driving {@link Handshake} without a
 * socket: the token in the {@code token} query parameter, no other header (so no Origin, and no
 * WebSocket upgrade: a {@code GET /sse}), from {@code peerAddress}.
 */
public record HandshakeRequest(String token, String peerAddress) implements Handshake.Request {
  public static final String LOOPBACK = "127.0.0.1";

  public static HandshakeRequest fromLoopback(String token) {
    return new HandshakeRequest(token, LOOPBACK);
  }

  @Override
  public String header(String name) {
    return null;
  }

  @Override
  public List<String> headers(String name) {
    return List.of();
  }

  @Override
  public String cookie(String name) {
    return null;
  }

  @Override
  public String query(String name) {
    return name.equals("token") ? token : null;
  }
}

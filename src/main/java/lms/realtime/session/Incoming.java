package lms.realtime.session;

import java.util.List;

/** What a client sent, as its transport hands it to the connection's actor ({@link Connection.Inbound}). */
public sealed interface Incoming {

  /** A text message (a WebSocket's). */
  record Text(String text) implements Incoming {}

  /** A binary message: refused (1003). */
  enum Binary implements Incoming { INSTANCE }

  /**
   * The frames of one POST of the HTTP fallback (contract §10), applied in order, each as a socket's
   * text message; {@code thenTooLarge}: the body's next frame was over the size bound (1009), and
   * nothing after it is read.
   */
  record Posted(List<String> frames, boolean thenTooLarge) implements Incoming {}
}

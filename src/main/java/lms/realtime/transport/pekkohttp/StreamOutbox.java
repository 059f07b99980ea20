package lms.realtime.transport.pekkohttp;

import lms.realtime.config.Settings;
import lms.realtime.fanout.Frame;
import lms.realtime.metrics.Metrics;
import lms.realtime.session.Handshake;

/**
 * An event stream's outbox on the pekko-http transport (the HTTP fallback's {@code GET /sse}): a
 * {@link StageOutbox} of Server-Sent Events ({@link Frame#sse}, rendered once per node), drained by
 * an {@link EventStreamStage}, which it also tells when a keep-alive comment is due (the node's one
 * ticker, {@link PekkoFallback}, says so for every stream at once).
 */
final class StreamOutbox extends StageOutbox {
  private volatile boolean keepAliveDue;

  StreamOutbox(Settings settings, Metrics metrics) {
    super(settings, metrics);
  }

  @Override
  public String kind() {
    return Handshake.Kind.SSE.label();
  }

  @Override
  protected byte[] bytes(Frame frame) {
    return frame.sse();
  }

  /** A comment line is due (any thread). */
  void keepAlive() {
    keepAliveDue = true;
    poke();
  }

  /** Whether a comment is due; it is then no longer (the stage's side). */
  boolean takeKeepAlive() {
    boolean due = keepAliveDue;
    keepAliveDue = false;
    return due;
  }
}

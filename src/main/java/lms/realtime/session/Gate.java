package lms.realtime.session;

import lms.realtime.config.Settings;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.ServerFrames;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What every text frame of one socket passes first, on whichever thread reads it: the rate bucket
 * with its strikes (contract §5) and the heartbeat clock. The socket's {@link Connection} passes the
 * frames it handles through it; the transport passes the pings it answers itself ({@link #pong}):
 * a client's heartbeat is the most frequent frame there is, and answering it on the thread that read
 * it spares the round trip through the actor (most of an idle socket's cost).
 */
public final class Gate {
  /** What the gate says of a frame. */
  public enum Verdict {
    PASS,
    /** Over the rate: answered with {@link #limited}, nothing else happens. */
    LIMITED,
    /** Over the rate for too many frames in a row: the socket closes with 4029. */
    CLOSE
  }

  private static final String PING = "{\"type\":\"ping\"}";
  private static final String PING_WITH_ID = "{\"type\":\"ping\",\"id\":\"";
  private static final String PONG = ServerFrames.pong(null);

  private final TokenBucket bucket;
  private final int strikesBeforeClose;
  private final String limitedMessage;
  private final SocketTime time;
  private int strikes;
  private long lastTextNanos;

  public Gate(Settings settings, SocketTime time) {
    this.time = time;
    long nowNanos = time.nanoTime();
    this.bucket = new TokenBucket(settings.limits().ratePerSecond(), settings.limits().rateBurst(), nowNanos);
    this.strikesBeforeClose = settings.limits().rateStrikesBeforeClose();
    double rate = settings.limits().ratePerSecond();
    String perSecond = rate == Math.rint(rate) ? Long.toString((long) rate) : Double.toString(rate);
    this.limitedMessage = "more than " + perSecond + " frames per second";
    this.lastTextNanos = nowNanos;
  }

  /** A text frame came: it counts as a heartbeat, and against the rate. */
  public synchronized Verdict admit(long nowNanos) {
    lastTextNanos = nowNanos;
    if (!bucket.tryTake(nowNanos)) {
      return ++strikes > strikesBeforeClose ? Verdict.CLOSE : Verdict.LIMITED;
    }
    strikes = 0;
    return Verdict.PASS;
  }

  /** When the socket last sent a text frame (or was opened). */
  public synchronized long lastTextNanos() {
    return lastTextNanos;
  }

  /** Starts the heartbeat clock again (the socket is open now). */
  public synchronized void opened(long nowNanos) {
    lastTextNanos = nowNanos;
  }

  /**
   * For the transport, on the thread that read {@code text}: a ping in the forms clients send is
   * answered here (a pong, or the rate-limit error, or the 4029 close through the actor) and true is
   * returned; for any other frame false, and the frame goes to the actor, which passes it through
   * the gate itself. Each frame passes the gate once.
   */
  public boolean answerPing(String text, Outbox outbox, ActorRef<MemberInbox> connection, Metrics metrics) {
    String id = pingId(text);
    if (id == null) {
      return false;
    }
    metrics.frameIn();
    switch (admit(time.nanoTime())) {
      case PASS -> outbox.sendText(id.isEmpty() ? PONG : ServerFrames.pong(id));
      case LIMITED -> outbox.sendText(limited(id.isEmpty() ? null : id));
      case CLOSE -> connection.tell(new MemberInbox.Close(CloseCodes.RATE_LIMITED, "rate limited"));
    }
    return true;
  }

  /** The error frame of a frame over the rate, with the request's id when it has one (null: none). */
  public String limited(String id) {
    return ServerFrames.error(id, ErrorCodes.RATE_LIMITED, limitedMessage);
  }

  /**
   * The id of a ping in the forms clients send ({@code {"type":"ping"}}: the empty string; or with a
   * plain string {@code id}); null for any other frame, which the actor reads in full.
   */
  static String pingId(String text) {
    if (text.equals(PING)) {
      return "";
    }
    int n = text.length();
    if (n > PING_WITH_ID.length() + 2 && text.startsWith(PING_WITH_ID) && text.endsWith("\"}")) {
      int from = PING_WITH_ID.length();
      int to = n - 2;
      if (to - from > ClientFrame.MAX_ID) {
        return null;
      }
      for (int i = from; i < to; i++) {
        char c = text.charAt(i);
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':')) {
          return null; // anything that could need JSON escaping goes the long way
        }
      }
      return text.substring(from, to);
    }
    return null;
  }
}

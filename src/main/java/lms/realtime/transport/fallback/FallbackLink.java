package lms.realtime.transport.fallback;

import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.session.Connection;
import lms.realtime.session.ConnectionSecret;
import lms.realtime.session.Gate;
import lms.realtime.session.Incoming;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What the HTTP side holds of one fallback connection (contract §10) while its actor lives: the
 * actor, its post token (and a long-poll connection's poll token), its outbox and rate gate, and
 * its POSTs that the actor has not taken yet.
 */
final class FallbackLink {
  final String id;
  final ActorRef<MemberInbox> connection;
  final ConnectionSecret postToken;
  /** Null for a stream: only a long-poll connection is polled. */
  final ConnectionSecret pollToken;
  final Outbox outbox;
  private final Gate gate;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final Runnable ack = inFlight::decrementAndGet;

  FallbackLink(String id, ActorRef<MemberInbox> connection, ConnectionSecret postToken, ConnectionSecret pollToken,
      Outbox outbox, Gate gate) {
    this.id = id;
    this.connection = connection;
    this.postToken = postToken;
    this.pollToken = pollToken;
    this.outbox = outbox;
    this.gate = gate;
  }

  /**
   * Hands a POST's frames to the actor, in one message, so that they stay together and in order
   * whatever other POST races them; false (nothing is handed) while {@code maxInFlight} POSTs wait
   * for the actor already: a POST's answer is a 204 at once, so this bound is what TCP's
   * back-pressure is to a socket. A lone {@code ping} is answered here through the gate, as a
   * socket's transport does, while nothing is with the actor (its answers go first).
   */
  boolean deliver(Incoming.Posted posted, int maxInFlight, Metrics metrics) {
    if (posted.frames().size() == 1 && !posted.thenTooLarge() && inFlight.get() == 0 && !outbox.isClosing()
        && gate.answerPing(posted.frames().get(0), outbox, connection, metrics)) {
      return true;
    }
    if (inFlight.incrementAndGet() > maxInFlight) {
      inFlight.decrementAndGet();
      return false;
    }
    connection.tell(new Connection.Inbound(ack, posted));
    return true;
  }
}

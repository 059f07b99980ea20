package lms.realtime.testkit;

import lms.realtime.fanout.LocalSockets;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A socket of a node as the fan-out sees it, with nothing of a transport: a probe stands in for the
 * socket's actor (what rooms, user entities and hubs tell it: {@link MemberInbox}), an in-memory
 * outbox takes its frames ({@link RecordingOutbox}), and the node's {@link LocalSockets} knows the
 * pair, so a hub delivers to it as to a real socket. What a room knows of it is {@link #info}.
 */
public record ProbeSocket(TestProbe<MemberInbox> actor, RecordingOutbox outbox, MemberInfo info) {

  /** A socket of {@code user} (an instructor: it sees presence), registered with {@code sockets}. */
  public static ProbeSocket open(ActorTestKit kit, LocalSockets sockets, Metrics metrics, String user) {
    return open(kit, sockets, metrics, user, "instructor", true);
  }

  public static ProbeSocket open(ActorTestKit kit, LocalSockets sockets, Metrics metrics, String user, String role,
      boolean seesPresence) {
    TestProbe<MemberInbox> actor = kit.createTestProbe(MemberInbox.class);
    RecordingOutbox outbox = new RecordingOutbox(metrics);
    sockets.register(actor.ref(), outbox);
    return new ProbeSocket(actor, outbox, new MemberInfo(actor.ref(), user, user, role, seesPresence));
  }

  public ActorRef<MemberInbox> ref() {
    return actor.ref();
  }
}

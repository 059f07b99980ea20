package lms.realtime.fanout;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * This node's open sockets (WebSockets and HTTP fallback connections alike): the socket actor to
 * outbox map the fan-out hubs deliver through, and how many there are of each kind. Node-local by
 * nature (each JVM node has its own).
 */
public final class LocalSockets {
  private final Map<ActorRef<MemberInbox>, Outbox> outboxes = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> byKind = new ConcurrentHashMap<>();

  public void register(ActorRef<MemberInbox> socket, Outbox outbox) {
    if (outboxes.put(socket, outbox) == null) {
      counter(outbox.kind()).incrementAndGet();
    }
  }

  public void unregister(ActorRef<MemberInbox> socket) {
    Outbox gone = outboxes.remove(socket);
    if (gone != null) {
      counter(gone.kind()).decrementAndGet();
    }
  }

  /** Open connections of one kind ({@link Outbox#kind}). */
  public int open(String kind) {
    return counter(kind).get();
  }

  private AtomicInteger counter(String kind) {
    return byKind.computeIfAbsent(kind, k -> new AtomicInteger());
  }

  /** The outbox of a socket on this node, or null once it is gone. */
  public Outbox outbox(ActorRef<MemberInbox> socket) {
    return outboxes.get(socket);
  }

  public int open() {
    return outboxes.size();
  }

  /**
   * Closes every socket on this node with one code (engine restarting: 1012), through its actor, so
   * that it also leaves its rooms and user at once.
   */
  public int closeAll(int code, String reason) {
    for (ActorRef<MemberInbox> socket : outboxes.keySet()) {
      socket.tell(new MemberInbox.Close(code, reason));
    }
    return outboxes.size();
  }
}

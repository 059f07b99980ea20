package lms.realtime.fanout;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * This node's open sockets: the socket actor to outbox map the fan-out hubs deliver through.
 * Node-local by nature (each JVM node has its own).
 */
public final class LocalSockets {
  private final Map<ActorRef<MemberInbox>, Outbox> outboxes = new ConcurrentHashMap<>();

  public void register(ActorRef<MemberInbox> socket, Outbox outbox) {
    outboxes.put(socket, outbox);
  }

  public void unregister(ActorRef<MemberInbox> socket) {
    outboxes.remove(socket);
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

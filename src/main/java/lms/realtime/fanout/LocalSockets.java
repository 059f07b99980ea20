package lms.realtime.fanout;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import lms.realtime.session.Connection;
import lms.realtime.session.PerAddress;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * This node's open sockets: the connection actor to outbox map the fan-out hubs deliver through,
 * and the per-IP counts of the handshake limit. Node-local by nature (each JVM node has its own).
 */
public final class LocalSockets {
  private final Map<ActorRef<Connection.Command>, Outbox> outboxes = new ConcurrentHashMap<>();
  private final PerAddress perIp = new PerAddress();

  public void register(ActorRef<Connection.Command> connection, Outbox outbox) {
    outboxes.put(connection, outbox);
  }

  public void unregister(ActorRef<Connection.Command> connection) {
    outboxes.remove(connection);
  }

  /** The outbox of a socket on this node, or null once it is gone. */
  public Outbox outbox(ActorRef<Connection.Command> connection) {
    return outboxes.get(connection);
  }

  public int open() {
    return outboxes.size();
  }

  /** Takes a slot of this IP's allowance; false (and nothing taken) when it is used up. */
  public boolean tryAcquireIp(String ip, int max) {
    return perIp.tryAcquire(ip, max);
  }

  public void releaseIp(String ip) {
    perIp.release(ip);
  }

  /**
   * Closes every socket on this node with one code (engine restarting: 1012), through its actor, so
   * that it also leaves its rooms and user at once.
   */
  public int closeAll(int code, String reason) {
    for (ActorRef<Connection.Command> connection : outboxes.keySet()) {
      connection.tell(new Connection.Close(code, reason));
    }
    return outboxes.size();
  }
}

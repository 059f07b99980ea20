package lms.realtime.fanout;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/** This node's hubs; a room always maps to the same hub of a node. */
public record Hubs(List<ActorRef<Hub.Command>> shards) {
  public ActorRef<Hub.Command> forRoom(String room) {
    return shards.get(Math.floorMod(room.hashCode(), shards.size()));
  }
}

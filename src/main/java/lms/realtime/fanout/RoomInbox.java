package lms.realtime.fanout;

import java.util.List;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a room entity takes: its entity type key is typed with this, its own commands
 * ({@code room.Room.Command}) extend it, and so does what hubs and user entities send it. Owned
 * here so that a hub, which re-joins its members when a room moves, never names the room's class.
 */
public interface RoomInbox extends CborSerializable {

  /**
   * A hub brings its members back after the room's previous incarnation stopped; {@code epoch} and
   * {@code seq} are the last position it delivered to them. The room answers the {@code last}
   * batch with {@link Hub.Rejoined}.
   */
  record Rejoin(ActorRef<Hub.Command> hub, List<MemberInfo> members, String epoch, long seq, boolean last)
      implements RoomInbox {}

  /** A hub found a gap in the room's events after {@code seq}: it gets {@link Hub.Recovered}. */
  record Recover(ActorRef<Hub.Command> hub, String epoch, long seq) implements RoomInbox {}
}

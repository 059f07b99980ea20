package lms.realtime.room;

import java.util.List;
import java.util.Map;
import lms.realtime.fanout.Hub;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;

/**
 * Where a room leaves its state when it is handed to another node (rolling restart, rebalance):
 * Distributed Data, written to a majority of nodes before the room stops, read (locally, then from a
 * majority) and deleted by the room's next incarnation. A room's removals have an entry of their own
 * in the same map, written whenever they change and kept across take-overs, so they outlive a crash. A room that dies with its node leaves nothing, so its next incarnation
 * starts a new epoch: clients are told to reload rather than handed a history with a hole in it.
 */
public final class RoomSnapshots {
  /** Snapshots are spread over this many map keys by room name. */
  static final int KEYS = 16;

  /**
   * What a room hands on. {@code hubs}: the hubs its members were on, which the next incarnation
   * tells it has taken over, so that they re-join their members at once instead of waiting for the
   * death watch of the previous one (seconds on a node that is leaving).
   */
  public record Snapshot(String epoch, long seq, List<History.Entry> history, Map<String, Long> removedAt,
      List<ActorRef<Hub.Command>> hubs) implements CborSerializable {}

  private RoomSnapshots() {}

  static Key<LWWMap<String, Snapshot>> keyFor(String room) {
    return LWWMapKey.create("lms-room-snapshots-" + Math.floorMod(room.hashCode(), KEYS));
  }

  /** The entry a room's removals are kept under, in the same map as its snapshot (one read gets both). */
  static String removalsEntry(String room) {
    return room + "#removals";
  }

  /** A room's removals alone (no epoch, no history). */
  static Snapshot removals(Map<String, Long> removedAt) {
    return new Snapshot(null, 0, List.of(), removedAt, List.of());
  }

  static LWWMap<String, Snapshot> empty() {
    return LWWMap.create();
  }
}

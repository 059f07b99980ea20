package lms.realtime.room;

import java.util.List;
import java.util.Map;
import lms.realtime.CborSerializable;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;

/**
 * Where a room leaves its state when it is handed to another node (rolling restart, rebalance):
 * Distributed Data, written to a majority of nodes before the room stops, read (locally, then from a
 * majority) and deleted by the room's next incarnation. A room that dies with its node leaves nothing, so its next incarnation
 * starts a new epoch: clients are told to reload rather than handed a history with a hole in it.
 */
public final class RoomSnapshots {
  /** Snapshots are spread over this many map keys by room name. */
  static final int KEYS = 16;

  /** Bound on the history a snapshot carries (characters of event frames), newest kept first. */
  static final int MAX_HISTORY_CHARS = 256 * 1024;

  public record Snapshot(String epoch, long seq, List<History.Entry> history, Map<String, Long> removedAt)
      implements CborSerializable {}

  private RoomSnapshots() {}

  static Key<LWWMap<String, Snapshot>> keyFor(String room) {
    return LWWMapKey.create("lms-room-snapshots-" + Math.floorMod(room.hashCode(), KEYS));
  }

  static LWWMap<String, Snapshot> empty() {
    return LWWMap.create();
  }
}

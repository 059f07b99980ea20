package lms.realtime.room;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * Where a room leaves its state when it is handed to another node (rolling restart, rebalance):
 * Distributed Data, written to a majority of nodes before the room stops, read (locally, then from a
 * majority) and deleted by the room's next incarnation. A room's removals have an entry of their own
 * in the same map, written whenever they change and kept across take-overs, so they outlive a crash.
 * A room that dies with its node leaves nothing, so its next incarnation starts a new epoch: clients
 * are told to reload rather than handed a history with a hole in it.
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
      List<ActorRef<Hub.Command>> hubs) implements CborSerializable {
    public Snapshot {
      hubs = hubs == null ? List.of() : hubs;
    }
  }

  /** What a room's previous incarnations left: a hand-off snapshot and the removals (either may be null). */
  record Found(Snapshot snapshot, Snapshot removals) {
    /**
     * The removals of both: the durable entry holds what they were when the last one was made, so
     * they outlive a crash of the room's node; a hand-off's may be newer.
     */
    List<Map<String, Long>> removedAt() {
      return Stream.of(snapshot, removals).filter(Objects::nonNull).map(Snapshot::removedAt).toList();
    }
  }

  /** A read's answer, as the room's message. */
  record Read(Replicator.GetResponse<LWWMap<String, Snapshot>> response) implements Room.Command {}

  /** A write's answer, as the room's message. */
  record Written(Replicator.UpdateResponse<LWWMap<String, Snapshot>> response) implements Room.Command {}

  private final ReplicatorMessageAdapter<RoomInbox, LWWMap<String, Snapshot>> replicator;
  private final SelfUniqueAddress self;
  private final String room;
  private final Key<LWWMap<String, Snapshot>> key;
  private final Settings.Internals internals;

  RoomSnapshots(ReplicatorMessageAdapter<RoomInbox, LWWMap<String, Snapshot>> replicator, SelfUniqueAddress self,
      String room, Settings.Internals internals) {
    this.replicator = replicator;
    this.self = self;
    this.room = room;
    this.key = LWWMapKey.create("lms-room-snapshots-" + Math.floorMod(room.hashCode(), KEYS));
    this.internals = internals;
  }

  /** Asks for what previous incarnations left: on this node, or from a majority; a {@link Read} answers. */
  void read(boolean fromMajority) {
    Replicator.ReadConsistency consistency = fromMajority
        ? new Replicator.ReadMajority(internals.snapshotReadTimeout())
        : Replicator.readLocal();
    replicator.askGet(replyTo -> new Replicator.Get<>(key, consistency, replyTo), Read::new);
  }

  Found found(Read read) {
    if (read.response() instanceof Replicator.GetSuccess<LWWMap<String, Snapshot>> ok) {
      Map<String, Snapshot> entries = ok.get(key).getEntries();
      return new Found(entries.get(room), entries.get(removalsEntry()));
    }
    return new Found(null, null);
  }

  private void handOn(Snapshot snapshot) {
    update(map -> map.put(self, room, snapshot));
  }

  /**
   * Hands the room's state on, then stops once a majority has it, or the write failed (the next
   * incarnation then starts a new epoch). {@code stopped} runs at the stop.
   */
  Behavior<RoomInbox> handOnThenStop(Snapshot snapshot, ActorContext<RoomInbox> ctx, Runnable stopped) {
    handOn(snapshot);
    return Behaviors.receive(RoomInbox.class)
        .onMessage(Written.class, w -> {
          if (w.response() instanceof Replicator.UpdateSuccess) {
            ctx.getLog().info("room {} handed on at {}/{} with {} events", room, snapshot.epoch(), snapshot.seq(), snapshot.history().size());
          } else {
            ctx.getLog().warn("room {} could not hand on its state ({}): its next incarnation starts a new epoch",
                room, w.response().getClass().getSimpleName());
          }
          return Behaviors.stopped();
        })
        .onSignal(PostStop.class, s -> {
          stopped.run();
          return Behaviors.same();
        })
        .build();
  }

  /** Taken over: a later crash must not bring this history back with a hole after it. */
  void takenOver() {
    update(map -> map.remove(self, room));
  }

  /** The room's removals as they are now (none: the entry goes). */
  void writeRemovals(Map<String, Long> removedAt) {
    String entry = removalsEntry();
    Snapshot removals = new Snapshot(null, 0, List.of(), removedAt, List.of());
    update(map -> removedAt.isEmpty() ? map.remove(self, entry) : map.put(self, entry, removals));
  }

  private void update(UnaryOperator<LWWMap<String, Snapshot>> change) {
    replicator.askUpdate(
        replyTo -> new Replicator.Update<>(key, LWWMap.create(),
            new Replicator.WriteMajority(internals.snapshotWriteTimeout()), replyTo, change::apply),
        Written::new);
  }

  /** The entry a room's removals are kept under, in the same map as its snapshot (one read gets both). */
  private String removalsEntry() {
    return room + "#removals";
  }
}

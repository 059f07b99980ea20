package lms.realtime.room;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import lms.realtime.config.Settings;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.ServerFrames;

/**
 * A room's numbered stream: its epoch, the last {@code seq} stored, the recent history, and what a
 * member missed since a position. An event is numbered ({@link #number}) before it is stored and
 * joins the stream ({@link #commit}) once it is: a durable room's journal stores it in between, and
 * a write that failed gives its number back ({@link #rollback}). A memory room's epoch is new with
 * each incarnation unless a hand-off brought the previous one along; a durable room's is its
 * journal's.
 */
final class RoomStream {
  /** Where a stream starts: a hand-off snapshot's or a journal's position and history; null for a new stream. */
  record Restored(String epoch, long seq, List<History.Entry> history) {}

  private final String room;
  private final String epoch;
  private long seq;
  /** The last number given, stored or not. */
  private long numbered;
  private final History history;
  /** Backend ids of events numbered and not yet stored: a repeat waits for the first's outcome. */
  private final Map<String, Long> pendingIds = new HashMap<>();

  RoomStream(String room, History history, Restored restored, long nowMillis) {
    this.room = room;
    this.history = history;
    if (restored != null) {
      this.epoch = restored.epoch();
      this.seq = restored.seq();
      this.history.restore(restored.history(), nowMillis);
    } else {
      this.epoch = UUID.randomUUID().toString().substring(0, 13);
    }
    this.numbered = seq;
  }

  /**
   * A durable room's stream, from what its journal {@code recovered}, bounded by {@code lms.durable};
   * a memory room's ({@code recovered} null), from a hand-off snapshot if there is one, bounded by
   * {@code lms.history}.
   */
  static RoomStream start(String room, Settings settings, RoomSnapshots.Snapshot handedOn, JournalLink.Recovered recovered,
      long nowMillis) {
    if (recovered != null) {
      Settings.Durable d = settings.durable();
      return new RoomStream(room, new History(d.historySize(), d.historyTtl().toMillis(), d.historyMaxBytes()),
          new Restored(recovered.epoch(), recovered.seq(), recovered.history()), nowMillis);
    }
    Settings.History bounds = settings.history();
    return new RoomStream(room, new History(bounds.size(), bounds.ttl().toMillis(), bounds.maxBytes()),
        handedOn == null ? null : new Restored(handedOn.epoch(), handedOn.seq(), handedOn.history()), nowMillis);
  }

  String epoch() {
    return epoch;
  }

  long seq() {
    return seq;
  }

  History history() {
    return history;
  }

  /** The seq of a backend event id in the window, stored or under way; null when new. */
  Long seqOf(String id, long nowMillis) {
    Long stored = history.seqOf(id, nowMillis);
    return stored != null ? stored : pendingIds.get(id);
  }

  /** Numbers an event (its frame made by {@code frame} from seq and epoch); it joins the stream at {@link #commit}. */
  History.Entry number(Framer frame, String idempotencyId, long nowMillis) {
    long eventSeq = ++numbered;
    if (idempotencyId != null) {
      pendingIds.put(idempotencyId, eventSeq);
    }
    return new History.Entry(eventSeq, nowMillis, frame.frame(room, eventSeq, epoch, nowMillis), idempotencyId);
  }

  /** Makes an entry's frame from its place in the stream. */
  interface Framer {
    String frame(String room, long seq, String epoch, long ts);
  }

  /** A numbered event is stored: it is in the stream now. */
  void commit(History.Entry entry, long nowMillis) {
    if (entry.id() != null) {
      pendingIds.remove(entry.id());
    }
    seq = entry.seq();
    history.add(entry, nowMillis);
  }

  /** The writes under way failed: their numbers are free again. */
  void rollback() {
    numbered = seq;
    pendingIds.clear();
  }
  /**
   * What a hub's members missed since a position: the events from the history, or, when it cannot
   * cover them (another epoch, too old), a {@code joined} with {@code recovered:false}: reload.
   */
  List<String> catchUp(String sinceEpoch, long sinceSeq, long nowMillis) {
    List<String> frames = sinceEpoch != null && sinceEpoch.equals(epoch) ? history.since(sinceSeq, seq, nowMillis) : null;
    return frames != null ? frames : List.of(ServerFrames.joined(null, room, epoch, seq, false, null));
  }

  /** A joiner's {@code joined}: the position, and with {@code since}, everything missed (or recovered:false). */
  String joinedFrame(String requestId, ClientFrame.Position since, long nowMillis) {
    if (since == null) {
      return ServerFrames.joined(requestId, room, epoch, seq, null, null);
    }
    List<String> missed = since.epoch().equals(epoch) ? history.since(since.seq(), seq, nowMillis) : null;
    return ServerFrames.joined(requestId, room, epoch, seq, missed != null, missed);
  }
}

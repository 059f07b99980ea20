package lms.realtime.room;

import java.util.List;
import java.util.UUID;
import lms.realtime.config.Settings;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.ServerFrames;

/**
 * A room's numbered stream: its epoch, the last {@code seq}, the recent history, and what a member
 * missed since a position. The epoch is new with each incarnation unless a hand-off brought the
 * previous one along.
 */
final class RoomStream {
  private final String room;
  private final String epoch;
  private long seq;
  private final History history;

  RoomStream(String room, Settings settings, RoomSnapshots.Snapshot handedOn, long nowMillis) {
    this.room = room;
    this.history = new History(settings.historySize(), settings.historyTtl().toMillis(), settings.historyMaxBytes());
    if (handedOn != null) {
      this.epoch = handedOn.epoch();
      this.seq = handedOn.seq();
      this.history.restore(handedOn.history(), nowMillis);
    } else {
      this.epoch = UUID.randomUUID().toString().substring(0, 13);
    }
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

  /** Numbers an event and keeps it in the history; returns it with its frame. */
  History.Entry append(String event, String data, String from, String idempotencyId, long nowMillis) {
    long eventSeq = ++seq;
    String frame = ServerFrames.event(room, eventSeq, epoch, event, data, from, nowMillis);
    History.Entry entry = new History.Entry(eventSeq, nowMillis, frame, idempotencyId);
    history.add(entry, nowMillis);
    return entry;
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

package lms.realtime.room;

import java.time.Clock;
import java.util.List;
import java.util.function.LongConsumer;
import lms.realtime.fanout.Hub;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ServerFrames;

/**
 * What adds to a room's stream: backend events, member events, notifications for a {@code user:}
 * room's user. Each is numbered, handed to the journal ({@link JournalLink}: at once for a memory
 * room), and only once stored joins the stream, goes to every hub and is answered; a write that
 * fails is answered {@code unavailable} and leaves the stream as it was. A journal that comes back
 * may hold writes whose answer was lost with it: they join the stream then ({@link #recovered}).
 */
final class RoomWrites {
  static final String UNAVAILABLE = "the room's journal is unavailable (its database does not answer); retry";
  /** The {@code from} of the backend's events. */
  static final String BACKEND = "backend";

  private final String name;
  private final RoomStream stream;
  private final RoomMembers members;
  private final JournalLink journal;
  private final Metrics metrics;
  private final Clock clock;
  /** Runs after an event joined a room with no member: the room times its idle check. */
  private final Runnable joinedEmptyRoom;

  RoomWrites(String name, RoomStream stream, RoomMembers members, JournalLink journal, Metrics metrics, Clock clock,
      Runnable joinedEmptyRoom) {
    this.name = name;
    this.stream = stream;
    this.members = members;
    this.journal = journal;
    this.metrics = metrics;
    this.clock = clock;
    this.joinedEmptyRoom = joinedEmptyRoom;
  }

  /** A member's event (membership checked by the room): the socket gets its {@code ack}, or {@code error unavailable}. */
  void socketPublish(Room.SocketPublish publish) {
    Runnable unavailable = () -> publish.hub().tell(new Hub.ToSocket(name, publish.socket(),
        ServerFrames.error(publish.requestId(), lms.realtime.protocol.ErrorCodes.UNAVAILABLE, UNAVAILABLE)));
    if (!journal.available()) {
      unavailable.run();
      return;
    }
    append((room, seq, epoch, ts) -> ServerFrames.event(room, seq, epoch, publish.event(), publish.data(), publish.from(), ts),
        null, clock.millis(),
        seq -> publish.hub().tell(new Hub.ToSocket(name, publish.socket(), ServerFrames.ack(publish.requestId(), seq))), unavailable);
  }

  /**
   * The backend's items for this room (one for a single call, a batch's share of them), numbered in
   * item order (contract §10): each is stored, delivered and given its outcome; a repeated id (of a
   * stored event, or earlier in the batch) is answered with its first seq and not published again.
   * The answer goes once every item has its outcome.
   */
  void append(Room.Append append) {
    List<Room.Item> items = append.items();
    Room.Outcome[] outcomes = new Room.Outcome[items.size()];
    int[] open = {items.size()};
    Runnable answerWhenDone = () -> {
      if (--open[0] == 0) {
        append.replyTo().tell(new Room.Appended(name, stream.epoch(), List.of(outcomes)));
      }
    };
    long now = clock.millis();
    for (int i = 0; i < items.size(); i++) {
      Room.Item item = items.get(i);
      int at = i;
      Runnable unavailable = () -> {
        outcomes[at] = new Room.Unavailable(UNAVAILABLE);
        answerWhenDone.run();
      };
      Long first = item.id() == null ? null : stream.seqOf(item.id(), now);
      if (first != null) {
        journal.afterWrites(() -> {
          outcomes[at] = new Room.Stored(first, 0);
          answerWhenDone.run();
        }, unavailable);
      } else if (!journal.available()) {
        unavailable.run();
      } else {
        append(item.notification()
                ? (room, seq, epoch, ts) -> ServerFrames.notification(room, seq, epoch, item.event(), item.data(), ts)
                : (room, seq, epoch, ts) -> ServerFrames.event(room, seq, epoch, item.event(), item.data(), BACKEND, ts),
            item.id(), now, seq -> {
              outcomes[at] = new Room.Stored(seq, item.notification() ? members.size() : 0);
              answerWhenDone.run();
            }, unavailable);
      }
    }
  }

  /** The stream after a position, or all it keeps when the position is not covered (or not given). */
  void read(Room.ReadStream read) {
    long now = clock.millis();
    List<String> after = read.sinceEpoch() != null && read.sinceEpoch().equals(stream.epoch())
        ? stream.history().since(read.sinceSeq(), stream.seq(), now) : null;
    List<String> frames = after != null ? after
        : stream.history().newest(now, Long.MAX_VALUE).stream().map(History.Entry::frame).toList();
    read.replyTo().tell(new Room.StreamRead(name, stream.epoch(), stream.seq(), after != null, frames));
  }

  /**
   * The journal is back: what it stored past the stream (writes whose answer was lost when it
   * stopped; their callers were told unavailable, and a backend retry with the same id finds them)
   * joins the stream now, in order.
   */
  void recovered(JournalLink.Recovered recovered) {
    long now = clock.millis();
    if (recovered.epoch().equals(stream.epoch())) {
      for (History.Entry entry : recovered.history()) {
        if (entry.seq() > stream.seq()) {
          stream.commit(entry, now);
          fanOut(entry);
        }
      }
    }
    journal.onRecovered();
  }

  private void append(RoomStream.Framer frame, String idempotencyId, long now, LongConsumer stored, Runnable failed) {
    History.Entry entry = stream.number(frame, idempotencyId, now);
    journal.write(new RoomJournal.Appended(entry), () -> {
      stream.commit(entry, clock.millis());
      fanOut(entry);
      stored.accept(entry.seq());
    }, () -> {
      stream.rollback();
      failed.run();
    });
  }

  private void fanOut(History.Entry entry) {
    metrics.eventPublished();
    long publishedAt = Metrics.nowMicros();
    for (var hub : members.hubs()) {
      hub.tell(new Hub.Broadcast(name, entry.frame(), false, publishedAt, stream.epoch(), entry.seq()));
    }
    if (members.isEmpty()) {
      joinedEmptyRoom.run();
    }
  }
}

package lms.realtime.room;

import java.util.List;
import java.util.function.LongConsumer;
import lms.realtime.fanout.Hub;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ServerFrames;
import lms.realtime.user.User;

/**
 * What adds to a room's stream: backend events, member events, notifications for a {@code user:}
 * room's user. Each is numbered, handed to the journal ({@link JournalLink}: at once for a memory
 * room), and only once stored joins the stream, goes to every hub and is answered; a write that
 * fails is answered {@code unavailable} and leaves the stream as it was. A journal that comes back
 * may hold writes whose answer was lost with it: they join the stream then ({@link #recovered}).
 */
final class RoomWrites {
  static final String UNAVAILABLE = "the room's journal is unavailable (its database does not answer); retry";

  private final String name;
  private final RoomStream stream;
  private final RoomMembers members;
  private final JournalLink journal;
  private final Metrics metrics;
  /** Runs after an event joined a room with no member: the room times its idle check. */
  private final Runnable joinedEmptyRoom;

  RoomWrites(String name, RoomStream stream, RoomMembers members, JournalLink journal, Metrics metrics, Runnable joinedEmptyRoom) {
    this.name = name;
    this.stream = stream;
    this.members = members;
    this.journal = journal;
    this.metrics = metrics;
    this.joinedEmptyRoom = joinedEmptyRoom;
  }

  /** A backend event: a repeated id is answered with its first seq once that is stored (or unavailable if it is not). */
  void publish(Room.Publish publish) {
    long now = System.currentTimeMillis();
    Long first = publish.idempotencyId() == null ? null : stream.seqOf(publish.idempotencyId(), now);
    Runnable unavailable = () -> publish.replyTo().tell(new Room.Published(name, 0, stream.epoch(), UNAVAILABLE));
    if (first != null) {
      journal.afterWrites(() -> publish.replyTo().tell(new Room.Published(name, first, stream.epoch(), null)), unavailable);
    } else if (!journal.available()) {
      unavailable.run();
    } else {
      append((room, seq, epoch, ts) -> ServerFrames.event(room, seq, epoch, publish.event(), publish.data(), publish.from(), ts),
          publish.idempotencyId(), now, seq -> publish.replyTo().tell(new Room.Published(name, seq, stream.epoch(), null)), unavailable);
    }
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
        null, System.currentTimeMillis(),
        seq -> publish.hub().tell(new Hub.ToSocket(name, publish.socket(), ServerFrames.ack(publish.requestId(), seq))), unavailable);
  }

  /** A notification for a {@code user:} room's user: its sockets in the room get it; answered with how many. */
  void notify(Room.Notify notify) {
    Runnable unavailable = () -> notify.replyTo().tell(new User.Delivered(0, 0, null, UNAVAILABLE));
    if (!journal.available()) {
      unavailable.run();
      return;
    }
    append((room, seq, epoch, ts) -> ServerFrames.notification(room, seq, epoch, notify.event(), notify.data(), ts),
        null, System.currentTimeMillis(),
        seq -> notify.replyTo().tell(new User.Delivered(members.size(), seq, stream.epoch(), null)), unavailable);
  }

  /** The stream after a position, or all it keeps when the position is not covered (or not given). */
  void read(Room.ReadStream read) {
    long now = System.currentTimeMillis();
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
    long now = System.currentTimeMillis();
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
      stream.commit(entry, System.currentTimeMillis());
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

package lms.realtime.fanout;

/**
 * Whoever writes to a group of sockets: fan-out groups a room's local members by it, so one event
 * costs one hand-over per drainer, not one per socket. On the netty transport a drainer is an event
 * loop (one task per loop writes to every member it owns); on pekko-http every socket drains itself,
 * and the hub offers to each outbox in turn ({@link #INLINE}).
 */
public interface Drainer {
  /** Sends {@code frame} to the first {@code count} of {@code members}, every one drained by this drainer. */
  void deliver(Frame frame, Outbox[] members, int count);

  /** Each outbox takes the frame itself, on the caller's thread. */
  Drainer INLINE = (frame, members, count) -> {
    for (int i = 0; i < count; i++) {
      members[i].send(frame);
    }
  };
}

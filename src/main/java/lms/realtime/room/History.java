package lms.realtime.room;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import lms.realtime.protocol.CborSerializable;
import lms.realtime.protocol.Json;

/**
 * A room's recent events, bounded by count, age and bytes (UTF-8 of their frames): what a
 * reconnecting client can recover, and the window in which a backend event id is remembered for
 * de-duplication. The byte bound is what keeps a recovery (every missed event in one {@code joined}
 * frame) and a hand-off snapshot small, whatever size the events are.
 */
final class History {
  /** One stored event; public so a room snapshot can carry it between nodes. */
  public record Entry(long seq, long tsMillis, String frame, String id) implements CborSerializable {}

  private final int maxSize;
  private final long ttlMillis;
  private final long maxBytes;
  private long bytes;
  private final ArrayDeque<Entry> entries = new ArrayDeque<>();
  private final Map<String, Long> seqById = new HashMap<>();

  History(int maxSize, long ttlMillis, long maxBytes) {
    this.maxSize = maxSize;
    this.ttlMillis = ttlMillis;
    this.maxBytes = maxBytes;
  }

  void add(Entry entry, long nowMillis) {
    if (maxSize <= 0) {
      return;
    }
    entries.addLast(entry);
    bytes += Json.utf8Length(entry.frame());
    if (entry.id() != null) {
      seqById.put(entry.id(), entry.seq());
    }
    while (entries.size() > maxSize || (bytes > maxBytes && !entries.isEmpty())) {
      evict();
    }
    expire(nowMillis);
  }

  /** The seq first given to a backend event id, or null when the id is not in the window. */
  Long seqOf(String id, long nowMillis) {
    expire(nowMillis);
    return seqById.get(id);
  }

  /**
   * Every event after {@code afterSeq} up to {@code lastSeq}, oldest first, or null when the history
   * no longer holds all of them.
   */
  List<String> since(long afterSeq, long lastSeq, long nowMillis) {
    expire(nowMillis);
    if (afterSeq == lastSeq) {
      return List.of();
    }
    if (afterSeq > lastSeq || entries.isEmpty() || entries.peekFirst().seq() > afterSeq + 1) {
      return null;
    }
    List<String> missed = new ArrayList<>((int) (lastSeq - afterSeq));
    for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
      Entry e = it.next();
      if (e.seq() > afterSeq) {
        missed.add(e.frame());
      }
    }
    return missed;
  }

  /** The newest entries whose frames add up to at most {@code maxBytes} bytes, oldest first. */
  List<Entry> newest(long nowMillis, long maxBytes) {
    expire(nowMillis);
    List<Entry> out = new ArrayList<>();
    long total = 0;
    for (Iterator<Entry> it = entries.descendingIterator(); it.hasNext(); ) {
      Entry e = it.next();
      total += Json.utf8Length(e.frame());
      if (total > maxBytes) {
        break;
      }
      out.add(0, e);
    }
    return out;
  }

  /** Takes back entries from a snapshot (oldest first). */
  void restore(List<Entry> saved, long nowMillis) {
    for (Entry e : saved) {
      add(e, nowMillis);
    }
  }

  /** True when nothing is left that a client could recover. */
  boolean isEmpty(long nowMillis) {
    expire(nowMillis);
    return entries.isEmpty();
  }

  /** When the newest entry expires (epoch ms), or now when empty. */
  long expiresAt(long nowMillis) {
    Entry last = entries.peekLast();
    return last == null ? nowMillis : last.tsMillis() + ttlMillis;
  }

  private void expire(long nowMillis) {
    while (!entries.isEmpty() && entries.peekFirst().tsMillis() + ttlMillis <= nowMillis) {
      evict();
    }
  }

  private void evict() {
    Entry gone = entries.removeFirst();
    bytes -= Json.utf8Length(gone.frame());
    if (gone.id() != null) {
      seqById.remove(gone.id(), gone.seq());
    }
  }
}

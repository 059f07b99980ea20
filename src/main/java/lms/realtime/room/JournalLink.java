package lms.realtime.room;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import lms.realtime.config.Settings;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * A room's side of its journal ({@link RoomJournal}): what the room has handed it and not yet seen
 * stored, in order, each with what to do once stored and what to do if the write failed. A memory
 * room has no journal: its writes are done at once. A durable room's journal that stops (its
 * database lost) fails every write under way, and is started again after a backoff until it
 * recovers; meanwhile {@link #available} is false and the room refuses what it would have to store.
 *
 * <p>One batch is in the journal at a time: the writes that arrive while it is being stored wait,
 * and go together as the next batch (one transaction, one commit), so a busy room pays one commit
 * for many events instead of one each.
 */
final class JournalLink {
  /** The most events one batch holds. */
  static final int MAX_BATCH = 64;

  /** What the journal (and its retry timer) tells the room. */
  sealed interface Message extends Room.Command permits Wrote, Recovered, Stopped, Retry {}

  /** The journal stored the batch under way. */
  enum Wrote implements Message { INSTANCE }

  /** The journal recovered: what it holds. */
  record Recovered(String epoch, long seq, List<History.Entry> history, Map<String, Long> removedAt) implements Message {}

  record Stopped(ActorRef<RoomJournal.Command> journal) implements Message {}

  enum Retry implements Message { INSTANCE }

  /** A write under way ({@code event} null: a barrier, done when every write before it is). */
  private record Pending(RoomJournal.Event event, Runnable stored, Runnable failed) {}

  private final ActorContext<RoomInbox> ctx;
  private final TimerScheduler<RoomInbox> timers;
  private final String name;
  private final Settings settings;
  private final boolean durable;
  private final ArrayDeque<Pending> pending = new ArrayDeque<>();
  /** The writes of {@link #pending} not handed to the journal yet, in order. */
  private final ArrayDeque<RoomJournal.Event> unsent = new ArrayDeque<>();
  /** How many events the journal is storing now (0: no batch under way). */
  private int inFlight;
  /** Counts the stored batches (a durable room's; null for a memory room). */
  private final Metrics metrics;
  /** The room's clock, its journal's too (a durable room's; null for a memory room). */
  private final Clock clock;
  private ActorRef<RoomJournal.Command> journal;
  private boolean up;
  private int incarnation;
  private Duration backoff;

  private JournalLink(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, String name, Settings settings,
      boolean durable, Metrics metrics, Clock clock) {
    this.ctx = ctx;
    this.clock = clock;
    this.timers = timers;
    this.name = name;
    this.settings = settings;
    this.durable = durable;
    this.metrics = metrics;
    this.backoff = settings.internals().journalRetryMin();
  }

  static JournalLink memory(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, String name, Settings settings) {
    return new JournalLink(ctx, timers, name, settings, false, null, null);
  }

  /** A durable room's link; its journal starts recovering at once and answers {@link Recovered}. */
  static JournalLink durable(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, String name, Settings settings,
      Metrics metrics, Clock clock) {
    JournalLink link = new JournalLink(ctx, timers, name, settings, true, metrics, clock);
    link.start();
    return link;
  }

  boolean durable() {
    return durable;
  }

  /** Whether a write now would be taken: a memory room always; a durable one with its journal up and not too far behind. */
  boolean available() {
    return !durable || (up && pending.size() < settings.internals().journalMaxPending());
  }

  /** Nothing under way (a room passivates only then). */
  boolean idle() {
    return pending.isEmpty();
  }

  /** Hands the journal {@code event}; {@code stored} runs once it is stored, {@code failed} if the write fails. */
  void write(RoomJournal.Event event, Runnable stored, Runnable failed) {
    if (!durable) {
      stored.run();
      return;
    }
    pending.addLast(new Pending(event, stored, failed));
    unsent.addLast(event);
    if (inFlight == 0) {
      send();
    }
  }

  /** Hands the journal the writes that wait (at most {@link #MAX_BATCH}) as one batch. */
  private void send() {
    if (unsent.isEmpty() || journal == null) {
      return;
    }
    List<RoomJournal.Event> batch = new ArrayList<>(Math.min(unsent.size(), MAX_BATCH));
    while (!unsent.isEmpty() && batch.size() < MAX_BATCH) {
      batch.add(unsent.pollFirst());
    }
    inFlight = batch.size();
    journal.tell(new RoomJournal.Write(List.copyOf(batch)));
  }

  /** Runs {@code stored} once every write under way is stored (at once when none is), {@code failed} if one fails. */
  void afterWrites(Runnable stored, Runnable failed) {
    if (pending.isEmpty()) {
      stored.run();
    } else {
      pending.addLast(new Pending(null, stored, failed));
    }
  }

  /** A {@link Wrote}, {@link Stopped} or {@link Retry} ({@link Recovered} is the room's to take). */
  void handle(Message message) {
    if (message == Wrote.INSTANCE) {
      onWrote();
    } else if (message instanceof Stopped stopped) {
      onStopped(stopped);
    } else if (message == Retry.INSTANCE) {
      start();
    }
  }

  /** The batch is stored: its writes, and the barriers among and right after them, are done in order. */
  private void onWrote() {
    int batch = inFlight;
    if (batch > 0) {
      metrics.journalStored(batch);
    }
    int done = 0;
    while (!pending.isEmpty() && (done < batch || pending.peekFirst().event() == null)) {
      Pending p = pending.pollFirst();
      if (p.event() != null) {
        done++;
      }
      p.stored().run();
    }
    inFlight = 0;
    send();
  }

  /** The journal recovered: the room may write again. */
  void onRecovered() {
    up = true;
    backoff = settings.internals().journalRetryMin();
  }

  /** This room's journal stopped: every write under way has failed, and a retry is timed. */
  private void onStopped(Stopped stopped) {
    if (!stopped.journal().equals(journal)) {
      return;
    }
    if (up) {
      ctx.getLog().warn("room {}: its journal stopped (database lost?); {} writes under way failed, trying again in {} ms",
          name, pending.stream().filter(p -> p.event() != null).count(), backoff.toMillis());
    }
    up = false;
    journal = null;
    unsent.clear();
    inFlight = 0;
    while (!pending.isEmpty()) {
      pending.pollFirst().failed().run();
    }
    timers.startSingleTimer(Retry.INSTANCE, Retry.INSTANCE, backoff);
    backoff = backoff.multipliedBy(2).compareTo(settings.internals().journalRetryMax()) > 0
        ? settings.internals().journalRetryMax() : backoff.multipliedBy(2);
  }

  /** The backoff is over: a new journal recovers what was stored. */
  void start() {
    journal = ctx.spawn(RoomJournal.create(name, ctx.getSelf(), settings, clock), "journal-" + (++incarnation));
    ctx.watchWith(journal, new Stopped(journal));
  }
}

package lms.realtime.room;

import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import lms.realtime.config.Settings;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.SnapshotAdapter;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * A durable room's journal (Pekko Persistence, persistence id {@code Room|<name>}): the event-sourced
 * half of the room, a child of its actor. What it persists is the room's numbered stream (each event
 * with its frame and de-duplication id), its epoch (once, when the stream begins) and its removals;
 * presence and members are never in it. It recovers from its last snapshot and the events after it,
 * tells the room what it holds ({@link JournalLink.Recovered}), then persists what the room hands it
 * in order, a batch at a time, answering each batch once stored ({@link JournalLink.Wrote}). Every
 * {@code journal-snapshot-every} events it snapshots (the kept history, bounded like the room's)
 * and deletes the events before, so replay stays short whatever a room's age.
 *
 * <p>A write or a recovery that fails stops it (Pekko's rule for a failed persist: the event may or
 * may not be stored); the room sees the stop and starts another, which recovers what was stored.
 */
final class RoomJournal extends EventSourcedBehavior<RoomJournal.Command, RoomJournal.Event, RoomJournal.State> {

  sealed interface Command permits Write, Begin {}

  /** Persist these in order, in one write to the database, then answer {@link JournalLink.Wrote} once. */
  record Write(List<Event> events) implements Command {}

  private record Begin(String epoch) implements Command {}

  /** What the journal holds; each is one row of the room's stream in the database. */
  sealed interface Event extends CborSerializable {}

  /** The stream begins: its epoch, for as long as the room's journal is kept. */
  record EpochStarted(String epoch) implements Event {}

  record Appended(History.Entry entry) implements Event {}

  record UserRemoved(String userId, long atSeconds) implements Event {}

  /** The snapshot's form in the database: an immutable copy of {@link State}. */
  record Saved(String epoch, long seq, List<History.Entry> history, Map<String, Long> removedAt) implements CborSerializable {}

  /**
   * The journal's running state, changed in place by the event handler (the history is large):
   * snapshots are copied out by {@link #snapshotAdapter} in the actor, before they leave it.
   */
  static final class State {
    String epoch;
    long seq;
    final History history;
    final Map<String, Long> removedAt = new HashMap<>();

    State(Settings.Durable durable) {
      this.history = new History(durable.historySize(), durable.historyTtl().toMillis(), durable.historyMaxBytes());
    }
  }

  private final ActorRef<Command> self;
  private final ActorRef<RoomInbox> room;
  private final Settings settings;
  /** The room's clock: what has expired (history, removals) is judged by it. */
  private final Clock clock;

  private RoomJournal(String name, ActorRef<Command> self, ActorRef<RoomInbox> room, Settings settings, Clock clock) {
    // Room names may hold the "|" that PersistenceId.of refuses (user:auth0|abc): the same id string,
    // made whole, so the journals of rooms named before stay theirs. Nothing we run splits it.
    super(PersistenceId.ofUniqueId("Room|" + name));
    this.self = self;
    this.room = room;
    this.settings = settings;
    this.clock = clock;
  }

  static Behavior<Command> create(String name, ActorRef<RoomInbox> room, Settings settings, Clock clock) {
    return Behaviors.setup(ctx -> new RoomJournal(name, ctx.getSelf(), room, settings, clock));
  }

  @Override
  public State emptyState() {
    return new State(settings.durable());
  }

  @Override
  public CommandHandler<Command, Event, State> commandHandler() {
    return newCommandHandlerBuilder().forAnyState()
        .onCommand(Write.class, (state, write) -> Effect().persist(write.events()).thenRun(s -> room.tell(JournalLink.Wrote.INSTANCE)))
        .onCommand(Begin.class, (state, begin) -> Effect().persist(new EpochStarted(begin.epoch())).thenRun(this::recovered))
        .build();
  }

  @Override
  public EventHandler<State, Event> eventHandler() {
    return newEventHandlerBuilder().forAnyState()
        .onAnyEvent((state, event) -> {
          long now = clock.millis();
          if (event instanceof EpochStarted started) {
            state.epoch = started.epoch();
          } else if (event instanceof Appended appended) {
            state.seq = appended.entry().seq();
            state.history.add(appended.entry(), now);
          } else if (event instanceof UserRemoved removed) {
            state.removedAt.merge(removed.userId(), removed.atSeconds(), Math::max);
          }
          return state;
        });
  }

  @Override
  public SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          if (state.epoch == null) {
            // a new stream: its epoch is stored before the room serves, so a crash cannot change it
            self.tell(new Begin(UUID.randomUUID().toString().substring(0, 13)));
          } else {
            recovered(state);
          }
        })
        .build();
  }

  private void recovered(State state) {
    Saved saved = copy(state);
    room.tell(new JournalLink.Recovered(saved.epoch(), saved.seq(), saved.history(), saved.removedAt()));
  }

  /** The state as it is now, immutable, without what has expired (history past its TTL, removals past retention). */
  private Saved copy(State state) {
    long now = clock.millis();
    long retention = settings.removalRetention().getSeconds();
    Map<String, Long> removals = new HashMap<>(state.removedAt);
    removals.values().removeIf(at -> at + retention < now / 1000);
    return new Saved(state.epoch, state.seq, state.history.newest(now, Long.MAX_VALUE), Map.copyOf(removals));
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(settings.internals().journalSnapshotEvery(), 2).withDeleteEventsOnSnapshot();
  }

  @Override
  public SnapshotAdapter<State> snapshotAdapter() {
    return new SnapshotAdapter<>() {
      @Override
      public Object toJournal(State state) {
        return copy(state);
      }

      @Override
      public State fromJournal(Object from) {
        Saved saved = (Saved) from;
        State state = emptyState();
        state.epoch = saved.epoch();
        state.seq = saved.seq();
        state.history.restore(saved.history(), clock.millis());
        state.removedAt.putAll(saved.removedAt());
        return state;
      }
    };
  }
}

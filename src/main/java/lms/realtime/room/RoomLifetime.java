package lms.realtime.room;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import lms.realtime.fanout.RoomInbox;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * When a room goes. With no member left it waits, then passivates: a memory room until nothing is
 * left to recover or remember (its history expired, its removals too), a durable room the
 * empty-room grace (its journal keeps the rest) and never with writes under way. Stopped by its
 * shard (passivation, hand-off, shutdown) it first lets its writes finish, then hands on what the
 * next incarnation needs ({@link RoomSnapshots}): a memory room its hubs, epoch, history and
 * removals; a durable room only its hubs.
 */
final class RoomLifetime {
  enum IdleCheck implements Room.Command { INSTANCE }

  private final ActorContext<RoomInbox> ctx;
  private final TimerScheduler<RoomInbox> timers;
  private final RoomStartup.Env env;
  private final RoomMembers members;
  private final RoomStream stream;
  private final Removals removals;
  private final JournalLink journal;
  private final RoomSnapshots snapshots;
  private boolean passivating;
  private boolean stopping;

  RoomLifetime(ActorContext<RoomInbox> ctx, TimerScheduler<RoomInbox> timers, RoomStartup.Env env, RoomMembers members,
      RoomStream stream, Removals removals, JournalLink journal, RoomSnapshots snapshots) {
    this.ctx = ctx;
    this.timers = timers;
    this.env = env;
    this.members = members;
    this.stream = stream;
    this.removals = removals;
    this.journal = journal;
    this.snapshots = snapshots;
    // A room started by a message that leaves nothing behind (a stray leave, a presence query)
    // goes again soon; a memory room with history waits for it to expire (see onIdleCheck).
    Duration emptyGrace = env.settings().internals().emptyRoomGrace();
    schedule(journal.durable() || emptyGrace.compareTo(env.settings().history().ttl()) < 0 ? emptyGrace : env.settings().history().ttl());
  }

  /** Between asking to passivate (or being stopped) and the stop: what comes goes to the next incarnation. */
  boolean passivating() {
    return passivating;
  }

  /** The room has no member now (its last left, or an event came to an empty room). */
  void emptied() {
    schedule(idleAfter());
  }

  private Duration idleAfter() {
    if (journal.durable()) {
      return env.settings().internals().emptyRoomGrace();
    }
    long now = env.clock().millis();
    return Duration.ofMillis(Math.max(0, stream.history().expiresAt(now) - now));
  }

  void onIdleCheck() {
    long now = env.clock().millis();
    if (removals.expire(now / 1000) && !journal.durable()) {
      snapshots.writeRemovals(removals.asMap());
    }
    if (!members.isEmpty() || passivating) {
      return;
    }
    if (journal.durable() && !journal.idle()) {
      schedule(idleAfter());
    } else if (!journal.durable() && !stream.history().isEmpty(now)) {
      schedule(Duration.ofMillis(stream.history().expiresAt(now) - now + 1));
    } else if (!journal.durable() && !removals.isEmpty()) {
      schedule(Duration.ofSeconds(removals.secondsToNextExpiry(now / 1000)));
    } else {
      // Nothing left to recover or remember (a memory room's epoch goes with it, as the contract
      // says), or all of it in the journal.
      passivating = true;
      env.shard().tell(new ClusterSharding.Passivate<>(ctx.getSelf()));
    }
  }

  /** The shard stops the room: {@code serving} until the writes under way are done. */
  Behavior<RoomInbox> onStop(Behavior<RoomInbox> serving) {
    stopping = true;
    passivating = true;
    return afterJournal(serving);
  }

  /** After a journal message: the room stops if it was waiting for its writes and they are done. */
  Behavior<RoomInbox> afterJournal(Behavior<RoomInbox> serving) {
    return stopping && journal.idle() ? stop() : serving;
  }

  private Behavior<RoomInbox> stop() {
    long now = env.clock().millis();
    boolean durable = journal.durable();
    if (members.isEmpty() && (durable || (stream.history().isEmpty(now) && removals.isEmpty()))) {
      return Behaviors.stopped();
    }
    return snapshots.handOnThenStop(new RoomSnapshots.Snapshot(stream.epoch(), stream.seq(),
        durable ? List.of() : stream.history().newest(now, env.settings().internals().snapshotMaxHistoryBytes()),
        durable ? Map.of() : removals.asMap(), List.copyOf(members.hubs())), ctx, env.metrics()::roomStopped);
  }

  private void schedule(Duration after) {
    timers.startSingleTimer(IdleCheck.INSTANCE, IdleCheck.INSTANCE, after.plusMillis(10));
  }
}

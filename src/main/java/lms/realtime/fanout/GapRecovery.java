package lms.realtime.fanout;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import lms.realtime.fanout.Hub.AddMember;
import lms.realtime.fanout.Hub.Broadcast;
import lms.realtime.fanout.Hub.Command;
import lms.realtime.fanout.Hub.RecoverTimeout;
import lms.realtime.fanout.Hub.Recovered;
import lms.realtime.fanout.Subscription.Member;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.ServerFrames;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * How a hub recovers a room's events that were lost on the way (issue 12: messages dropped between
 * nodes used to go unnoticed) without letting what the room said after them overtake them. When an
 * event skips a number, the hub asks the room for what it missed and, until the answer, holds every
 * message of the room for this node's sockets, in the order they came: events, acks, replies and
 * errors, presence diffs, joins, leaves. Then the answer's events go out with each held message where
 * it stood among them: an ack after its event, a joiner's {@code joined} after the events up to its
 * position and before the later ones (so it gets each event once), a {@code left} after the events
 * its socket was still a member for. Asked again if no answer comes. Part of the hub's actor: its
 * state lives in the hub's {@link Subscription}s.
 *
 * <p>Given up when more than {@code lms.internals.hub-held-max} messages wait, or when the room's
 * actor changes meanwhile (a move, a crash: the re-join takes over from there): the held messages go
 * in order but their events do not (a hole is still before them), and the members get a {@code
 * joined} with {@code recovered:false} at the newest position held: reload, as after a re-join that
 * the room's history cannot cover.
 */
final class GapRecovery {
  /** A position in a room's stream. */
  private record Position(String epoch, long seq) {}

  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final Map<String, Subscription> rooms;
  private final Metrics metrics;
  private final Duration retry;
  private final int heldMax;
  /** The hub handles a held message, in its turn, as if it came now. */
  private final Consumer<Command> handle;
  /** The hub drops a room left without members. */
  private final BiConsumer<String, Subscription> emptied;

  GapRecovery(ActorContext<Command> ctx, TimerScheduler<Command> timers, Map<String, Subscription> rooms, Metrics metrics,
      Duration retry, int heldMax, Consumer<Command> handle, BiConsumer<String, Subscription> emptied) {
    this.ctx = ctx;
    this.timers = timers;
    this.rooms = rooms;
    this.metrics = metrics;
    this.retry = retry;
    this.heldMax = heldMax;
    this.handle = handle;
    this.emptied = emptied;
  }

  /**
   * Holds a message for a room that is recovering; false when it is not (or the recovery was just
   * given up), and the hub handles the message now.
   */
  boolean held(String room, Command msg) {
    Subscription sub = rooms.get(room);
    if (sub == null || !sub.recovering()) {
      return false;
    }
    if (msg instanceof AddMember add && !add.roomActor().equals(sub.roomActor)) {
      giveUp(room, sub); // a socket joined the room's next incarnation: the recovery asked the previous one
      return false;
    }
    if (sub.held.size() >= heldMax) {
      ctx.getLog().warn("room {}: over {} messages held for a recovery; its members here reload", room, heldMax);
      giveUp(room, sub);
      return false;
    }
    sub.held.add(msg);
    return true;
  }

  /**
   * Events of one room come in {@code seq} order; one that skips a number means some were lost on
   * the way. It starts a recovery (it is the first message held) and true is returned.
   */
  boolean gap(Subscription sub, Broadcast msg) {
    if (sub.roomActor == null || sub.epoch == null || !sub.epoch.equals(msg.epoch()) || msg.seq() <= sub.seq + 1) {
      return false;
    }
    sub.held = new ArrayDeque<>();
    sub.held.add(msg);
    ctx.getLog().info("room {}: events {}..{} missing on this node; recovering them", msg.room(), sub.seq + 1, msg.seq() - 1);
    metrics.gapFound();
    ask(msg.room(), sub);
    return true;
  }

  private void ask(String room, Subscription sub) {
    sub.roomActor.tell(new RoomInbox.Recover(ctx.getSelf(), sub.epoch, sub.seq));
    timers.startSingleTimer(new RecoverTimeout(room), retry);
  }

  void timeout(RecoverTimeout msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub != null && sub.recovering() && sub.roomActor != null) {
      ask(msg.room(), sub);
    }
  }

  /**
   * The room's answer: its events after a position up to its {@code seq}, or a {@code joined} with
   * {@code recovered:false} when its history cannot cover the gap. The answer to an earlier recovery
   * (a retry's) that is older than what is held is none.
   */
  void recovered(Recovered msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || !sub.recovering()) {
      return;
    }
    Position newest = newest(sub.held);
    if (msg.epoch().equals(newest.epoch()) && msg.seq() < newest.seq()) {
      return;
    }
    // Events run up to the answer's seq; one that skipped a number is always held, so a single
    // reset frame never passes for events that would start at or before our position.
    long after = msg.seq() - msg.frames().size();
    if (msg.epoch().equals(sub.epoch) && after <= sub.seq) {
      List<String> events = msg.frames().subList((int) (sub.seq - after), msg.frames().size());
      release(msg.room(), sub, events, new Position(msg.epoch(), msg.seq()), List.of());
    } else {
      release(msg.room(), sub, List.of(), new Position(msg.epoch(), msg.seq()), msg.frames());
    }
  }

  /** Ends a recovery without its answer: the members reload from the newest position held. */
  void giveUp(String room, Subscription sub) {
    Position at = newest(sub.held);
    release(room, sub, List.of(), at, List.of(ServerFrames.joined(null, room, at.epoch(), at.seq(), false, null)));
  }

  /**
   * The held messages go in the order they came, {@code events} (those after the subscription's
   * position) among them where they stood: each held event stands for its {@code seq}, a joiner for
   * its position. Then {@code reset} frames go to every member not joined at the room's position.
   */
  private void release(String room, Subscription sub, List<String> events, Position to, List<String> reset) {
    timers.cancel(new RecoverTimeout(room));
    ArrayDeque<Command> held = sub.held;
    sub.held = null;
    Catchup catchUp = new Catchup(room, sub.seq, events);
    Set<ActorRef<MemberInbox>> current = new HashSet<>();
    for (Command msg : held) {
      if (msg instanceof Broadcast event && event.seq() > 0) {
        catchUp.upTo(event.seq());
        metrics.enqueued(event.publishedAtMicros());
        continue;
      }
      if (msg instanceof AddMember add) {
        catchUp.upTo(add.seq());
        if (add.epoch().equals(to.epoch()) && add.seq() >= to.seq()) {
          current.add(add.member().socket());
        }
      }
      handle.accept(msg);
    }
    catchUp.upTo(to.seq());
    Subscription now = rooms.get(room);
    if (now == null) {
      return;
    }
    now.epoch = to.epoch();
    now.seq = to.seq();
    for (String text : reset) {
      Frame frame = Frame.text(text);
      for (Map.Entry<ActorRef<MemberInbox>, Member> m : now.members.entrySet()) {
        if (!current.contains(m.getKey())) {
          m.getValue().outbox().send(frame);
        }
      }
    }
    if (now.members.isEmpty()) {
      emptied.accept(room, now); // its last socket went meanwhile
    }
  }

  /** The newest position the held messages name (the first one held is always an event). */
  private static Position newest(ArrayDeque<Command> held) {
    for (var it = held.descendingIterator(); it.hasNext(); ) {
      Command msg = it.next();
      if (msg instanceof Broadcast event && event.seq() > 0) {
        return new Position(event.epoch(), event.seq());
      }
      if (msg instanceof AddMember add) {
        return new Position(add.epoch(), add.seq());
      }
    }
    throw new IllegalStateException("a recovery holds no event");
  }

  /** The answer's events, handed to the room's members of the moment up to a position at a time. */
  private final class Catchup {
    private final String room;
    private final long after;
    private final List<String> events;
    private long delivered;

    Catchup(String room, long after, List<String> events) {
      this.room = room;
      this.after = after;
      this.events = events;
      this.delivered = after;
    }

    void upTo(long seq) {
      for (; delivered < seq && delivered - after < events.size(); delivered++) {
        Subscription now = rooms.get(room);
        if (now != null) {
          now.deliver(Frame.text(events.get((int) (delivered - after))), false);
        }
      }
    }
  }
}

package lms.realtime.fanout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.fanout.Hub.Broadcast;
import lms.realtime.fanout.Hub.Command;
import lms.realtime.fanout.Hub.RecoverTimeout;
import lms.realtime.fanout.Hub.Recovered;
import lms.realtime.fanout.Hub.RejoinTimeout;
import lms.realtime.fanout.Hub.Rejoined;
import lms.realtime.fanout.Hub.RoomActorGone;
import lms.realtime.fanout.Hub.RoomMoved;
import lms.realtime.fanout.Subscription.Member;
import lms.realtime.metrics.Metrics;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * How a hub follows each of its rooms' actors: it watches the current incarnation and, when it stops
 * while members remain (a rolling restart, a rebalance, its node died) or a new one says it took over,
 * joins the members again to the next incarnation with the last position delivered; and when the
 * room's events skip a number, it asks the room for what was missed. Retried until answered. Part of
 * the hub's actor: its state lives in the hub's {@link Subscription}s.
 */
final class RoomFollower {
  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final Map<String, Subscription> rooms;
  private final Metrics metrics;
  private final EntityTypeKey<RoomInbox> roomKey;
  private final int rejoinBatch;
  private final Duration rejoinRetry;

  RoomFollower(ActorContext<Command> ctx, TimerScheduler<Command> timers, Map<String, Subscription> rooms, Metrics metrics,
      EntityTypeKey<RoomInbox> roomKey, int rejoinBatch, Duration rejoinRetry) {
    this.ctx = ctx;
    this.timers = timers;
    this.rooms = rooms;
    this.metrics = metrics;
    this.roomKey = roomKey;
    this.rejoinBatch = rejoinBatch;
    this.rejoinRetry = rejoinRetry;
  }

  /** Starts watching a room's actor (a new incarnation) and takes its position if it is newer. */
  void follow(String room, Subscription sub, ActorRef<RoomInbox> roomActor, String epoch, long seq) {
    if (!roomActor.equals(sub.roomActor)) {
      if (sub.roomActor != null) {
        ctx.unwatch(sub.roomActor);
      }
      sub.roomActor = roomActor;
      ctx.watchWith(roomActor, new RoomActorGone(room, roomActor));
      sub.epoch = epoch;
      sub.seq = seq;
    } else if (epoch.equals(sub.epoch) && seq > sub.seq) {
      sub.seq = seq;
    }
  }

  /** The room's actor stopped with members still here: take them to its next incarnation. */
  void roomActorGone(RoomActorGone msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || !msg.roomActor().equals(sub.roomActor) || sub.members.isEmpty()) {
      return;
    }
    rejoinNextIncarnation(msg.room(), sub);
  }

  void roomMoved(RoomMoved msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || sub.members.isEmpty() || msg.roomActor().equals(sub.roomActor) || sub.rejoining != null) {
      return; // nobody here, already following it, or a re-join already under way
    }
    rejoinNextIncarnation(msg.room(), sub);
  }

  private void rejoinNextIncarnation(String room, Subscription sub) {
    if (sub.roomActor != null) {
      ctx.unwatch(sub.roomActor);
    }
    sub.roomActor = null;
    sub.rejoining = new HashSet<>(sub.members.keySet());
    sendRejoin(room, sub);
  }

  /** The members go in batches; the room answers the last one. */
  private void sendRejoin(String room, Subscription sub) {
    var roomRef = ClusterSharding.get(ctx.getSystem()).entityRefFor(roomKey, room);
    List<MemberInfo> batch = new ArrayList<>(Math.min(rejoinBatch, sub.members.size()));
    int left = sub.members.size();
    for (Member m : sub.members.values()) {
      batch.add(m.info());
      left--;
      if (batch.size() == rejoinBatch || left == 0) {
        roomRef.tell(new RoomInbox.Rejoin(ctx.getSelf(), List.copyOf(batch), sub.epoch, sub.seq, left == 0));
        batch.clear();
      }
    }
    timers.startSingleTimer(new RejoinTimeout(room), rejoinRetry);
  }

  /**
   * Events of one room come in {@code seq} order; one that skips a number means some were lost on
   * the way (issue 12: messages dropped between nodes used to go unnoticed). The hub asks the room
   * for what it missed, holds the room's events until the answer (which carries them), and asks
   * again if no answer comes.
   */
  boolean gap(Subscription sub, Broadcast msg) {
    if (sub.recovering) {
      return true;
    }
    if (sub.roomActor == null || sub.epoch == null || !sub.epoch.equals(msg.epoch()) || msg.seq() <= sub.seq + 1) {
      return false;
    }
    sub.recovering = true;
    ctx.getLog().info("room {}: events {}..{} missing on this node; recovering them", msg.room(), sub.seq + 1, msg.seq() - 1);
    metrics.gapFound();
    askRecovery(msg.room(), sub);
    return true;
  }

  private void askRecovery(String room, Subscription sub) {
    sub.roomActor.tell(new RoomInbox.Recover(ctx.getSelf(), sub.epoch, sub.seq));
    timers.startSingleTimer(new RecoverTimeout(room), rejoinRetry);
  }

  void recoverTimeout(RecoverTimeout msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub != null && sub.recovering && sub.roomActor != null) {
      askRecovery(msg.room(), sub);
    }
  }

  void recovered(Recovered msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null || !sub.recovering) {
      return;
    }
    timers.cancel(new RecoverTimeout(msg.room()));
    sub.recovering = false;
    sub.epoch = msg.epoch();
    sub.seq = msg.seq();
    for (String text : msg.frames()) {
      sub.deliver(Frame.text(text), false);
    }
  }

  void rejoinTimeout(RejoinTimeout msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub != null && sub.rejoining != null && !sub.members.isEmpty()) {
      sendRejoin(msg.room(), sub);
    }
  }

  void rejoined(Rejoined msg) {
    Subscription sub = rooms.get(msg.room());
    if (sub == null) {
      return;
    }
    if (sub.rejoining == null) {
      return; // an answer to a retried re-join that was already answered
    }
    timers.cancel(new RejoinTimeout(msg.room()));
    // A socket that joined the new incarnation meanwhile (AddMember) already has its position;
    // the answer still counts, and its catch-up goes to the members that were re-joined only.
    follow(msg.room(), sub, msg.roomActor(), msg.epoch(), msg.seq());
    sub.epoch = msg.epoch();
    sub.seq = msg.seq();
    Set<ActorRef<MemberInbox>> caughtUp = sub.rejoining;
    sub.rejoining = null;
    for (String text : msg.frames()) {
      Frame frame = Frame.text(text);
      for (ActorRef<MemberInbox> socket : caughtUp) {
        Member member = sub.members.get(socket);
        if (member != null) {
          member.outbox().send(frame);
        }
      }
    }
  }
}

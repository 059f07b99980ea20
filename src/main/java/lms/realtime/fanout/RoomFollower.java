package lms.realtime.fanout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import lms.realtime.fanout.Hub.Command;
import lms.realtime.fanout.Hub.RejoinTimeout;
import lms.realtime.fanout.Hub.Rejoined;
import lms.realtime.fanout.Hub.RoomActorGone;
import lms.realtime.fanout.Hub.RoomMoved;
import lms.realtime.fanout.Subscription.Member;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * How a hub follows each of its rooms' actors: it watches the current incarnation and, when it stops
 * while members remain (a rolling restart, a rebalance, its node died) or a new one says it took over,
 * joins the members again to the next incarnation with the last position delivered. Retried until
 * answered. A gap recovery under way with the previous incarnation is given up first (its
 * {@link GapRecovery}). Part of the hub's actor: its state lives in the hub's {@link Subscription}s.
 */
final class RoomFollower {
  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final Map<String, Subscription> rooms;
  private final GapRecovery recovery;
  private final EntityTypeKey<RoomInbox> roomKey;
  private final int rejoinBatch;
  private final Duration rejoinRetry;

  RoomFollower(ActorContext<Command> ctx, TimerScheduler<Command> timers, Map<String, Subscription> rooms, GapRecovery recovery,
      EntityTypeKey<RoomInbox> roomKey, int rejoinBatch, Duration rejoinRetry) {
    this.ctx = ctx;
    this.timers = timers;
    this.rooms = rooms;
    this.recovery = recovery;
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
    if (sub == null || !msg.roomActor().equals(sub.roomActor) || (sub.members.isEmpty() && !sub.recovering())) {
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
    if (sub.recovering()) {
      recovery.giveUp(room, sub); // its answer would come from the incarnation that is gone
      sub = rooms.get(room);
      if (sub == null || sub.members.isEmpty()) {
        return;
      }
    }
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
    if (sub.recovering()) {
      // a gap found in the events of a socket that joined the new incarnation meanwhile: what was
      // held goes first, as it came; the re-join's catch-up follows
      recovery.giveUp(msg.room(), sub);
      sub = rooms.get(msg.room());
      if (sub == null || sub.rejoining == null) {
        return;
      }
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

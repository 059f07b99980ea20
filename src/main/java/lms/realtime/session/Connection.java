package lms.realtime.session;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import lms.realtime.auth.Identity;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.MemberInfo;
import lms.realtime.fanout.Outbox;
import lms.realtime.protocol.ClientFrame;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.user.User;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ExtensibleBehavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One connection's state machine (a WebSocket, or the HTTP fallback's stream or long polls: only
 * its transport and outbox know which): admitting (registered with its user entity before the upgrade, the
 * per-user limit), attaching, open, closing; its rate gate, heartbeat and token deadlines. Once open
 * it reads client frames, and what they ask is handled by its {@link ClientRequests}. Rooms and
 * the user entity watch it, so however it ends, it leaves presence.
 *
 * <p>Its actor's type is the member protocol ({@link MemberInbox}): that is all that rooms, hubs and
 * user entities know of it. Its own commands (from its transport, its timers) extend that type.
 *
 * <p>Lean by design, since there is one per socket: an {@link ExtensibleBehavior} whose messages are
 * matched by type (no receive table built per instance), one timer at a time (the next deadline of
 * the phase it is in), and its own {@code user:} room joined only in its own books: the user entity
 * subscribes the socket when that room runs (see {@link User}), so most sockets never start it.
 */
public final class Connection extends ExtensibleBehavior<MemberInbox> {

  /** What the socket's transport and timers tell it (node-local, never serialized). */
  public sealed interface Command extends MemberInbox {}

  /** The socket is upgraded and attached; {@code ack} lets it read the first message. */
  public record SocketOpened(Runnable ack) implements Command {}

  /** A message from the client; {@code ack} lets the transport read the next one. */
  public record Inbound(Runnable ack, Incoming incoming) implements Command {}

  /** The socket's TCP connection is gone (whoever ended it). */
  public enum SocketClosed implements Command { INSTANCE }

  /** A message passed the size bound; the rest of it is skipped as it arrives. */
  public enum FrameTooLarge implements Command { INSTANCE }

  /** The user entity this socket is registered with stopped (moved to another node, or its node died). */
  private record UserEntityGone(ActorRef<User.Command> entity) implements Command {}

  private enum Tick implements Command {
    /** Admitting: ask the user entity again, or, past the ask timeout, give up (503). */
    ADMIT_TIMEOUT,
    /** Attaching: the transport did not attach in time. */
    ATTACH_TIMEOUT,
    /** Open: the next heartbeat or token deadline. */
    DEADLINE,
    /** Closing: the peer did not finish the close in time. */
    CLOSE_TIMEOUT,
    /** The outbox closed the socket itself (a slow reader). */
    OUTBOX_CLOSED
  }

  private enum Phase { ADMITTING, ATTACHING, OPEN, CLOSING }

  static Behavior<MemberInbox> create(NodeContext node, Identity identity, Outbox outbox, Gate gate, String ip,
      CompletableFuture<Boolean> admitted) {
    return Behaviors.setup(ctx -> new Connection(ctx, node, identity, outbox, gate, ip, admitted));
  }

  private final ActorContext<MemberInbox> ctx;
  private final NodeContext node;
  private final Identity identity;
  private final Outbox outbox;
  private final String ip;
  private CompletableFuture<Boolean> admitted;
  private final ClientRequests requests;
  private final Gate gate;
  private final Deadlines deadlines;
  private Phase phase = Phase.ADMITTING;
  private long admitDeadline;
  /** Registering again with a user entity that moved, not answered yet (retried at each deadline). */
  private boolean reregistering;
  private Cancellable timer;

  private Connection(ActorContext<MemberInbox> ctx, NodeContext node, Identity identity, Outbox outbox, Gate gate, String ip,
      CompletableFuture<Boolean> admitted) {
    this.ctx = ctx;
    this.gate = gate;
    this.node = node;
    this.identity = identity;
    this.outbox = outbox;
    this.ip = ip;
    this.admitted = admitted;
    this.requests = new ClientRequests(node, identity, ctx.getSelf(), outbox);
    this.deadlines = new Deadlines(node.settings().heartbeatSeconds(), node.settings().jwt().clockSkewSeconds());
    ActorRef<MemberInbox> self = ctx.getSelf();
    node.sockets().register(self, outbox);
    outbox.onOverflow(() -> self.tell(Tick.OUTBOX_CLOSED));
    register(node.settings().limits().maxConnectionsPerUser());
    admitDeadline = node.time().nanoTime() + node.settings().http().askTimeout().toNanos();
    startTimer(nextAdmitTick(), Tick.ADMIT_TIMEOUT);
  }

  /**
   * The admission is asked again every {@code lms.internals.admit-retry} until the ask timeout: a shard region
   * drops what it buffered for a shard that starts a hand-off (Pekko: "Dropping buffered messages
   * ... to avoid re-ordering"), so a registration sent while the user's shard moved (a rolling
   * restart, a rebalance) was lost and the handshake got 503 after 5 s. Registering is idempotent.
   */
  private Duration nextAdmitTick() {
    long left = admitDeadline - node.time().nanoTime();
    return Duration.ofNanos(Math.max(0, Math.min(left, node.settings().internals().admitRetry().toNanos())));
  }

  /**
   * Registers with the user entity, with what it needs to subscribe this socket to its own room;
   * the {@link Admission} comes back to this actor.
   */
  private void register(int limit) {
    MemberInfo member = new MemberInfo(ctx.getSelf(), identity.userId(), identity.name(), null, true);
    requests.userRef().tell(new User.Register(member, limit, node.hubs().forRoom(requests.ownRoom()), identity.issuedAt()));
  }

  @Override
  public Behavior<MemberInbox> receive(TypedActorContext<MemberInbox> context, MemberInbox msg) {
    if (msg instanceof Inbound inbound) {
      return onInbound(inbound);
    } else if (msg instanceof MemberInbox.Deliver d) {
      outbox.sendText(d.frame()); // queued behind welcome by the outbox, whenever it comes
      return this;
    } else if (msg instanceof Tick tick) {
      return onTick(tick);
    } else if (msg instanceof User.Admission admission) {
      return onAdmission(admission);
    } else if (msg instanceof SocketOpened opened) {
      return onSocketOpened(opened);
    } else if (msg instanceof SocketClosed) {
      return Behaviors.stopped();
    } else if (msg instanceof MemberInbox.RoomLeft left) {
      requests.roomLeft(left);
      return this;
    } else if (msg instanceof MemberInbox.Close close) {
      return closeWith(close.code(), close.reason());
    } else if (msg instanceof FrameTooLarge) {
      return closeWith(CloseCodes.TOO_LARGE, tooLarge());
    } else if (msg instanceof UserEntityGone) {
      if (phase != Phase.CLOSING) {
        reregistering = true;
        register(Integer.MAX_VALUE);
      }
      return this;
    }
    return Behaviors.unhandled();
  }

  @Override
  public Behavior<MemberInbox> receiveSignal(TypedActorContext<MemberInbox> context, Signal signal) {
    if (signal instanceof PostStop) {
      onStop();
    }
    return this;
  }

  private Behavior<MemberInbox> onTick(Tick tick) {
    return switch (tick) {
      case ADMIT_TIMEOUT -> {
        if (phase != Phase.ADMITTING) {
          yield this;
        }
        if (node.time().nanoTime() < admitDeadline) {
          register(node.settings().limits().maxConnectionsPerUser());
          startTimer(nextAdmitTick(), Tick.ADMIT_TIMEOUT);
          yield this;
        }
        admitted.completeExceptionally(new TimeoutException("the user entity did not answer"));
        yield Behaviors.stopped();
      }
      case ATTACH_TIMEOUT -> phase == Phase.ATTACHING ? Behaviors.stopped() : this;
      case DEADLINE -> onDeadline();
      case CLOSE_TIMEOUT -> {
        if (phase != Phase.CLOSING) {
          yield this;
        }
        outbox.abort();
        yield Behaviors.stopped();
      }
      case OUTBOX_CLOSED -> closeWith(outbox.closeCode(), "closed");
    };
  }

  private void startTimer(Duration delay, Tick tick) {
    if (timer != null) {
      timer.cancel();
    }
    timer = node.time().scheduleOnce(delay, ctx.getSelf(), tick);
  }

  private Behavior<MemberInbox> onAdmission(User.Admission admission) {
    if (phase != Phase.ADMITTING) {
      // a re-registration after the user entity moved: only the watch needs renewing
      if (phase != Phase.CLOSING) {
        reregistering = false;
        ctx.watchWith(admission.entity(), new UserEntityGone(admission.entity()));
      }
      return this;
    }
    if (!admission.admitted()) {
      admitted.complete(false);
      return Behaviors.stopped();
    }
    phase = Phase.ATTACHING;
    ctx.watchWith(admission.entity(), new UserEntityGone(admission.entity()));
    startTimer(node.settings().internals().attachTimeout(), Tick.ATTACH_TIMEOUT);
    admitted.complete(true);
    admitted = null;
    return this;
  }

  private Behavior<MemberInbox> onSocketOpened(SocketOpened opened) {
    opened.ack().run();
    if (phase != Phase.ATTACHING) {
      return this;
    }
    phase = Phase.OPEN;
    requests.openOwnRoom();
    gate.opened(node.time().nanoTime());
    armDeadline();
    return this;
  }

  /**
   * The next heartbeat or token deadline, whichever is first. The token's is the handshake token's
   * {@code exp}, or the last accepted {@code refresh}'s.
   */
  private void armDeadline() {
    long now = node.time().nanoTime();
    startTimer(deadlines.next(now, node.time().wallClock().millis(), lastHeard(now), requests.identity().expiresAt()), Tick.DEADLINE);
  }

  /** The client's last frame, or its reader's last sign of life (a long poll), whichever is older. */
  private long lastHeard(long now) {
    return Math.min(gate.lastTextNanos(), outbox.lastReadNanos(now));
  }

  private Behavior<MemberInbox> onDeadline() {
    if (phase != Phase.OPEN) {
      return this;
    }
    long now = node.time().nanoTime();
    int due = deadlines.due(now, node.time().wallClock().millis(), lastHeard(now), requests.identity().expiresAt());
    if (due != 0) {
      return closeWith(due, due == CloseCodes.TOKEN_EXPIRED ? "token expired" : "heartbeat missed");
    }
    if (reregistering) {
      register(Integer.MAX_VALUE); // no answer yet from the user entity's next incarnation: again
    }
    armDeadline();
    return this;
  }

  /**
   * Starts the close: the close frame goes out ahead of anything queued, the socket leaves its rooms
   * and user at once (presence does not wait for the peer), and the peer has the close grace to end.
   */
  private Behavior<MemberInbox> closeWith(int code, String reason) {
    outbox.close(code, reason);
    if (phase == Phase.CLOSING) {
      return this;
    }
    phase = Phase.CLOSING;
    requests.leaveAll();
    // and, being CLOSING, no re-registration if the user entity moves: it may passivate now
    requests.userRef().tell(new User.Unregister(ctx.getSelf()));
    // A peer that takes not even the close frame (its TCP window is shut) is dropped after the grace.
    startTimer(node.settings().limits().closeGrace(), Tick.CLOSE_TIMEOUT);
    return this;
  }

  private void onStop() {
    if (admitted != null && !admitted.isDone()) {
      admitted.complete(false);
    }
    if (timer != null) {
      timer.cancel();
    }
    node.sockets().unregister(ctx.getSelf());
    node.perIp().release(ip);
    outbox.stopped();
  }

  // --- frames from the client ---

  /**
   * A client frame. The ack goes once the frame is handled and its own answers are queued: a ping
   * the transport answers itself while no frame is with the actor can then never overtake them.
   */
  private Behavior<MemberInbox> onInbound(Inbound inbound) {
    try {
      if (phase != Phase.OPEN) {
        return this;
      }
      if (inbound.incoming() instanceof Incoming.Posted posted) {
        return onPosted(posted);
      } else if (inbound.incoming() instanceof Incoming.Text t) {
        return onText(t.text());
      }
      node.metrics().frameIn();
      return closeWith(CloseCodes.BINARY, "binary frames are not accepted");
    } finally {
      inbound.ack().run();
    }
  }

  /** A POST's frames, one after another as a socket's would come, until one closes the connection. */
  private Behavior<MemberInbox> onPosted(Incoming.Posted posted) {
    for (int i = 0; i < posted.frames().size() && phase == Phase.OPEN; i++) {
      onText(posted.frames().get(i));
    }
    return posted.thenTooLarge() && phase == Phase.OPEN ? closeWith(CloseCodes.TOO_LARGE, tooLarge()) : this;
  }

  private String tooLarge() {
    return "frame larger than " + node.settings().limits().maxFrameBytes() + " bytes";
  }

  private Behavior<MemberInbox> onText(String text) {
    node.metrics().frameIn();
    switch (gate.admit(node.time().nanoTime())) {
      case CLOSE -> {
        return closeWith(CloseCodes.RATE_LIMITED, "rate limited");
      }
      case LIMITED -> outbox.sendText(gate.limited(ClientFrame.peekId(node.json(), text)));
      default -> {
        if (requests.read(text)) {
          armDeadline();
        }
      }
    }
    return this;
  }
}

package lms.realtime.room;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.time.Clock;
import java.util.List;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Hub;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.fanout.RoomInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CborSerializable;
import lms.realtime.protocol.ClientFrame;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One room (Cluster Sharding entity keyed by room name), as the rest of the engine sees it: what it
 * takes and what it answers. It is the single writer of its members, presence, numbering, epoch and
 * recent history, so these can never disagree; {@link RoomActor} is the actor, gluing the pieces
 * that each keep one of those ({@link RoomMembers}, {@link RoomStream}, {@link Removals}).
 *
 * <p>A room reaches a socket by one path only: the socket's node's hub ({@link Hub}), named in every
 * request a socket sends. Events, acks, refusals and presence replies all go that way, so a socket
 * gets them in the order the room said them. Handed to another node, a memory room takes its epoch,
 * history, removals and the list of its hubs along ({@link RoomSnapshots}); a durable room (a kind in
 * {@code lms.durable.rooms}) keeps all but its hubs in its journal ({@link RoomJournal}), which a
 * crash does not lose either. The hubs bring the members back.
 */
public final class Room {
  public static final EntityTypeKey<RoomInbox> KEY = EntityTypeKey.create(RoomInbox.class, "Room");

  /**
   * The room's own commands; hubs and user entities send it theirs ({@link RoomInbox}). Sealed: what
   * its actor takes from other packages is here, the rest are its parts' timers and answers.
   */
  public sealed interface Command extends RoomInbox
      permits Join, Leave, SocketClosing, AccessRevoked, SocketPublish, Append, ReadStream, GetPresence, QueryPresence,
          RemoveUser, RoomActor.Stop, RoomActor.MemberGone, HeldForMembers.Release, RoomLifetime.IdleCheck,
          JournalLink.Message, RoomSnapshots.Read, RoomSnapshots.Written, OwnerLink.EntityGone, RoomStartup.OwnerTimeout {}

  /**
   * A socket joins; {@code again} when the socket's books say it is joined already (see
   * {@link RoomActor}): a member is then refused, a socket whose first join was lost is served.
   */
  public record Join(
      ActorRef<MemberInbox> socket,
      ActorRef<Hub.Command> hub,
      String requestId,
      String userId,
      String name,
      String role,
      boolean seesPresence,
      Long tokenIssuedAt,
      ClientFrame.Position since,
      boolean again)
      implements Command {}

  /** A socket asks to leave: it gets the {@code left} for {@code requestId}. */
  public record Leave(ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub, String requestId) implements Command {}

  /** A socket that is closing leaves: no {@code left} (presence does not wait for the peer). */
  public record SocketClosing(ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub) implements Command {}

  /** A token refresh took the room from the socket: it leaves, with a {@code left} whose reason is {@code revoked}. */
  public record AccessRevoked(ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub) implements Command {}

  /** An event from a member socket: the socket gets the {@code ack} for {@code requestId}. */
  public record SocketPublish(
      String event, String data, String from, ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub, String requestId)
      implements Command {}

  /**
   * Backend items to add to this room's stream, in item order: events, or, for a {@code user:} room,
   * notifications of its user. A single call (contract §6) is one item; a batch (§10) sends each
   * room the items that name it, in one message. {@code replyTo} gets one outcome per item, in the
   * same order, once every item is stored (or has failed).
   */
  public record Append(List<Item> items, ActorRef<Appended> replyTo) implements Command {}

  /**
   * One item: an event {@code from} the backend, or ({@code notification}) a notification for the
   * room's user; {@code id} (may be null) de-duplicates as in the single calls.
   */
  public record Item(boolean notification, String event, String data, String id) implements CborSerializable {}

  /** The outcome of each item of an {@link Append}, in its order, and the room's epoch. */
  public record Appended(String room, String epoch, List<Outcome> outcomes) implements CborSerializable {}

  /** What became of one item. */
  @JsonTypeInfo(use = JsonTypeInfo.Id.NAME)
  @JsonSubTypes({@JsonSubTypes.Type(value = Stored.class, name = "stored"), @JsonSubTypes.Type(value = Unavailable.class, name = "unavailable")})
  public sealed interface Outcome extends CborSerializable {}

  /**
   * Stored and delivered at {@code seq}; {@code delivered}: for a notification, the user's sockets
   * in the room it reached (0 when its {@code id} repeated one already stored: not sent again).
   */
  public record Stored(long seq, int delivered) implements Outcome {}

  /**
   * Not stored (a durable room whose journal is down): nothing of it happened; retry it, with its id.
   * Also the answer to a {@link RemoveUser} that could not be stored (nothing was removed).
   */
  public record Unavailable(String message) implements Outcome, Removal {}

  /** What the stream holds after a position ({@code sinceEpoch} null: all it holds). */
  public record ReadStream(String sinceEpoch, long sinceSeq, ActorRef<StreamRead> replyTo) implements Command {}

  /** {@code complete}: the frames are everything after the position asked; else everything kept. */
  public record StreamRead(String room, String epoch, long seq, boolean complete, List<String> frames) implements CborSerializable {}

  public record GetPresence(ActorRef<PresenceList> replyTo) implements Command {}

  /**
   * A socket's {@code presence} request. The room decides: a member that sees presence, or a socket
   * whose identity alone allows it ({@code byIdentity}: admins, a course's instructors), and never
   * one whose credential ({@code tokenIssuedAt}) a removal bars.
   */
  public record QueryPresence(
      ActorRef<MemberInbox> socket, ActorRef<Hub.Command> hub, String requestId, String userId, Long tokenIssuedAt,
      boolean byIdentity)
      implements Command {}

  public record PresenceList(String room, List<PresenceUser> users) implements CborSerializable {}

  public record PresenceUser(String userId, String name, String role, int connections) implements CborSerializable {}

  /** The backend removes a user: their sockets leave at once, older tokens cannot come back. */
  public record RemoveUser(String userId, ActorRef<Removal> replyTo) implements Command {}

  /** What became of a {@link RemoveUser}: {@link Removed}, or {@link Unavailable} (nothing removed: 503). */
  public sealed interface Removal extends CborSerializable {}

  /** Stored; {@code removed} of the user's sockets were in the room and have left it. */
  public record Removed(int removed) implements Removal {}

  private Room() {}

  public static void init(ActorSystem<?> system, Settings settings, Metrics metrics) {
    ClusterSharding sharding = ClusterSharding.get(system);
    sharding.init(Entity.of(KEY, ctx -> RoomStartup.create(
            new RoomStartup.Env(ctx.getEntityId(), ctx.getShard(), sharding, settings, metrics, Clock.systemUTC())))
        .withStopMessage(RoomActor.STOP));
  }
}

package lms.realtime.fanout;

import lms.realtime.protocol.CborSerializable;

/**
 * The member protocol: what a socket's actor takes from the rooms, user entities and hubs that
 * reach it. It is owned here, below the entities, so that {@code room/} and {@code user/} name a
 * socket only as an {@code ActorRef<MemberInbox>} and never a {@code session/} type. The socket's
 * actor ({@code session.Connection}) is spawned with this type; its own commands (from its
 * transport, its timers) extend it, and a reply type an entity defines for it (the user entity's
 * admission) implements it.
 *
 * <p>A room reaches a socket by one path only, its node's hub (see {@link Hub}): room frames never
 * come through these messages.
 */
public interface MemberInbox extends CborSerializable {

  /** A frame for this socket from an entity that is not a room (a notification). */
  record Deliver(String frame) implements MemberInbox {}

  /**
   * The room let this socket go (the backend removed its user, or refused its join): the socket
   * drops the room from its books, then sends {@code lastFrame} (the {@code left}, the error; may be
   * null), so that a client that reads it and joins again finds the books already changed.
   */
  record RoomLeft(String room, String lastFrame) implements MemberInbox {}

  /** Close the socket with this code (node shutdown, operator action, broken framing, rate). */
  record Close(int code, String reason) implements MemberInbox {}
}

package lms.realtime.auth;

import lms.realtime.protocol.RoomName;

/**
 * The room table of contract §3: who may join, publish from a socket, and query presence. Pure
 * functions of the identity, the room and (for {@code live:} rooms) the room token.
 */
public final class RoomAccess {
  public static final String INSTRUCTOR = "instructor";

  private RoomAccess() {}

  /** The membership a join earns, or null when the join is forbidden. */
  public static Membership join(Identity who, RoomName room, RoomGrant grant) {
    return switch (room.kind()) {
      case COURSE -> {
        String role = who.courseRole(room.key());
        yield role == null
            ? null
            : new Membership(room.value(), role, INSTRUCTOR.equals(role), INSTRUCTOR.equals(role) || who.isAdmin(), who.issuedAt());
      }
      case LIVE -> {
        if (grant == null || !grant.userId().equals(who.userId()) || !grant.room().equals(room.value())) {
          yield null;
        }
        yield new Membership(room.value(), grant.role(), true, INSTRUCTOR.equals(grant.role()) || who.isAdmin(),
            older(who.issuedAt(), grant.issuedAt()));
      }
      case USER -> room.key().equals(who.userId()) ? new Membership(room.value(), null, true, true, who.issuedAt()) : null;
    };
  }

  /**
   * The {@code iat} a removal compares for a live room: the older of the access token's and the room
   * token's (null when either has none), so that a removal bars the socket when either credential
   * predates it. A fresh room token on an access token issued before the removal does not readmit
   * the user (issue 22); a refreshed access token and a fresh room token do.
   */
  private static Long older(Long accessIssuedAt, Long roomIssuedAt) {
    return accessIssuedAt == null || roomIssuedAt == null ? null : Math.min(accessIssuedAt, roomIssuedAt);
  }

  /**
   * May this socket query the room's presence? {@code joined} is its membership of that room, or null
   * when it has not joined (admins and course instructors may ask without joining).
   */
  public static boolean canQueryPresence(Identity who, RoomName room, Membership joined) {
    if (joined != null && joined.canSeePresence()) {
      return true;
    }
    return switch (room.kind()) {
      case COURSE -> who.isAdmin() || INSTRUCTOR.equals(who.courseRole(room.key()));
      case LIVE -> who.isAdmin();
      case USER -> room.key().equals(who.userId());
    };
  }
}

package lms.realtime.auth;

/** A verified room token for a {@code live:} room (contract §4). */
public record RoomGrant(String userId, String room, String role, long expiresAt, Long issuedAt) {}

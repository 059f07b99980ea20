package lms.realtime.auth;

/**
 * What one socket may do in one joined room, decided once at join time; {@code issuedAt} is when
 * the credentials that gave it were issued (the access token; for a live room the older of it and
 * the room token), which a removal from the room compares with.
 */
public record Membership(String room, String role, boolean canPublish, boolean canSeePresence, Long issuedAt) {
  /** The same rights with the credential time of another (a refresh keeps the join's, which removals compare with). */
  public Membership withIssuedAt(Long at) {
    return new Membership(room, role, canPublish, canSeePresence, at);
  }
}

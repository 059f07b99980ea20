package lms.realtime.auth;

/** What one socket may do in one joined room, decided once at join time. */
public record Membership(String room, String role, boolean canPublish, boolean canSeePresence) {}

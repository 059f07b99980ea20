package lms.realtime.auth;

import java.util.Map;
import java.util.Set;

/** Who holds a verified access token (contract §1). Times are seconds since the epoch. */
public record Identity(
    String userId, String name, Set<String> roles, Map<String, String> courses, long expiresAt, Long issuedAt) {

  public boolean isAdmin() {
    return roles.contains("admin");
  }

  public boolean isService() {
    return roles.contains("service");
  }

  /** The user's role in a course, or null when not enrolled. */
  public String courseRole(String courseId) {
    return courses.get(courseId);
  }
}

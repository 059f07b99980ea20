package lms.realtime.protocol;

import java.util.regex.Pattern;

/** A parsed room name: {@code course:{courseId}}, {@code live:{sessionId}} or {@code user:{userId}}. */
public record RoomName(Kind kind, String key) {
  public enum Kind {
    COURSE("course"),
    LIVE("live"),
    USER("user");

    final String prefix;

    Kind(String prefix) {
      this.prefix = prefix;
    }

    /** The kind's name in room names and settings ({@code course}, {@code live}, {@code user}). */
    public String prefix() {
      return prefix;
    }
  }

  /**
   * Ids are what a platform uses as keys: letters, digits and {@code . _ - @ ~ | : + =} (Auth0-style
   * subjects such as {@code auth0|abc} included), 1 to 128 of them.
   */
  private static final Pattern KEY = Pattern.compile("[A-Za-z0-9._@~|:+=-]{1,128}");

  public String value() {
    return kind.prefix + ":" + key;
  }

  @Override
  public String toString() {
    return value();
  }

  public static RoomName user(String userId) {
    return new RoomName(Kind.USER, userId);
  }

  /** Parses a room name, or returns null when it is not one. */
  public static RoomName parse(String name) {
    if (name == null) {
      return null;
    }
    int colon = name.indexOf(':');
    if (colon < 0) {
      return null;
    }
    String prefix = name.substring(0, colon);
    String key = name.substring(colon + 1);
    if (!KEY.matcher(key).matches()) {
      return null;
    }
    for (Kind kind : Kind.values()) {
      if (kind.prefix.equals(prefix)) {
        return new RoomName(kind, key);
      }
    }
    return null;
  }

  /** True when a user id can name a {@code user:} room (and so be a user entity). */
  public static boolean validUserId(String userId) {
    return userId != null && KEY.matcher(userId).matches();
  }
}

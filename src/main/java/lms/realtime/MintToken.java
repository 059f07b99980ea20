package lms.realtime;

import com.typesafe.config.Config;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import lms.realtime.auth.TokenSigner;
import lms.realtime.auth.TokenVerifier;
import lms.realtime.protocol.RoomName;

/**
 * {@code --mint-token}: prints one token signed with the configured {@code LMS_JWT_SECRET}, so that
 * a cluster started by hand or by docker compose can be tried without the platform that would
 * normally mint them (a demo node's tokens are signed with its own secret and no other node accepts
 * them). Whoever can run it holds the secret already: it grants nothing new.
 */
final class MintToken {
  static final String USAGE = String.join("\n",
      "usage: java -jar lms-realtime.jar --mint-token USER [--name NAME] [--course ID=ROLE]... [--role admin|service]...",
      "                                                 [--room ROOM=ROLE] [--ttl SECONDS]",
      "  prints a token signed with LMS_JWT_SECRET (HS256) for the user id USER: an access token, or with",
      "  --room a room token (live: rooms; ROLE student or instructor). Examples:",
      "    --mint-token ada --name Ada --course demo-101=student     a student of course demo-101",
      "    --mint-token backend --role service                      the platform's backend (/api/v1)",
      "    --mint-token ada --room live:class-7=student             a room token for live:class-7");
  /** A token for trying a cluster: an hour unless --ttl says otherwise, at most a day. */
  static final long DEFAULT_TTL_SECONDS = 3600;
  static final long MAX_TTL_SECONDS = 86_400;

  private MintToken() {}

  /** Mints what {@code args} (those after {@code --mint-token}) ask for; returns the exit code. */
  static int run(List<String> args, Config config, PrintStream out, PrintStream err) {
    try {
      out.println(mint(args, config.getString("lms.jwt.secret"), Instant.now()));
      return 0;
    } catch (IllegalArgumentException e) {
      err.println("lms-realtime: " + e.getMessage() + "\n\n" + USAGE);
      return 1;
    }
  }

  static String mint(List<String> args, String secret, Instant now) {
    if (secret.getBytes(StandardCharsets.UTF_8).length < TokenVerifier.MIN_SECRET_BYTES) {
      throw new IllegalArgumentException("--mint-token signs with LMS_JWT_SECRET, which must be set (at least "
          + TokenVerifier.MIN_SECRET_BYTES + " bytes); tokens for an RS256/ES256 key are minted by the platform");
    }
    if (args.isEmpty() || args.get(0).startsWith("--")) {
      throw new IllegalArgumentException("--mint-token needs the user id first");
    }
    String user = args.get(0);
    if (!RoomName.validUserId(user)) {
      throw new IllegalArgumentException("user id " + user + " is not 1-128 of letters, digits and . _ @ ~ | : + = -");
    }
    Map<String, String> courses = new LinkedHashMap<>();
    List<String> roles = new ArrayList<>();
    String name = null;
    String[] room = null;
    long ttl = DEFAULT_TTL_SECONDS;
    for (int i = 1; i < args.size(); i += 2) {
      String option = args.get(i);
      if (i + 1 >= args.size()) {
        throw new IllegalArgumentException(option + " needs a value");
      }
      String value = args.get(i + 1);
      switch (option) {
        case "--name" -> name = value;
        case "--course" -> {
          String[] pair = pair(value, "--course ID=ROLE");
          courses.put(pair[0], pair[1]);
        }
        case "--role" -> {
          if (!value.equals("admin") && !value.equals("service")) {
            throw new IllegalArgumentException("--role is admin or service");
          }
          roles.add(value);
        }
        case "--room" -> {
          room = pair(value, "--room ROOM=ROLE");
          if (!room[1].equals("student") && !room[1].equals("instructor")) {
            throw new IllegalArgumentException("a room token's role is student or instructor");
          }
        }
        case "--ttl" -> ttl = ttl(value);
        default -> throw new IllegalArgumentException("unknown option " + option);
      }
    }
    Map<String, Object> claims = new LinkedHashMap<>();
    claims.put("sub", user);
    if (room != null) {
      if (!courses.isEmpty() || !roles.isEmpty()) {
        // a token with a room claim is a room token and never an access token (docs/protocol.md §1)
        throw new IllegalArgumentException("--room makes a room token, which carries no --course or --role");
      }
      claims.put("room", room[0]);
      claims.put("role", room[1]);
    } else {
      claims.put("courses", courses);
      if (!roles.isEmpty()) {
        claims.put("roles", roles);
      }
    }
    if (name != null) {
      claims.put("name", name);
    }
    return new TokenSigner(secret).sign(claims, now, ttl);
  }

  private static String[] pair(String value, String shape) {
    int eq = value.lastIndexOf('=');
    if (eq <= 0 || eq == value.length() - 1) {
      throw new IllegalArgumentException("expected " + shape + ", got " + value);
    }
    return new String[] {value.substring(0, eq), value.substring(eq + 1)};
  }

  private static long ttl(String value) {
    long seconds;
    try {
      seconds = Long.parseLong(value);
    } catch (NumberFormatException e) {
      seconds = -1;
    }
    if (seconds < 1 || seconds > MAX_TTL_SECONDS) {
      throw new IllegalArgumentException("--ttl is the token's lifetime in whole seconds, 1 to " + MAX_TTL_SECONDS);
    }
    return seconds;
  }
}

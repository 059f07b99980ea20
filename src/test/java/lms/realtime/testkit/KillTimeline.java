package lms.realtime.testkit;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * What the survivors of a {@code kill -9} go through, in seconds after the kill: when they mark the
 * node unreachable and when the split-brain resolver downs it (their logs), when the dead node's
 * user leaves the presence of a room on a surviving node (death watch: the node was removed), when
 * the room that lived on the dead node answers a backend call again (its shard was allocated to a
 * survivor and the room started), and when a durable room finished replaying its journal (the room's
 * log line). The backend calls go out every 200 ms without waiting for each other, so the first
 * answer is seen within that of the room's start even while earlier calls still wait in a region.
 */
public final class KillTimeline implements AutoCloseable {
  /**
   * Issue 22, item 12: the rooms of a killed node answer again within this of the kill. The drills'
   * median was 8.3 s, their slowest 9.4 s (docs/architecture.md, Node loss); the rest is for a loaded box.
   */
  public static final Duration ROOMS_BACK_WITHIN = Duration.ofSeconds(12);
  private static final long POLL_MS = 200;

  private final ProcessCluster nodes;
  private final int victim;
  private final String lostRoom;
  private long killedAt;
  private long killedAtNanos;
  private final Map<String, Double> seen = new ConcurrentHashMap<>();
  private final ScheduledExecutorService pollers = Executors.newScheduledThreadPool(2);
  private final String service = Tokens.service();
  /** How long each survivor's log was at the kill: what comes after is the drill's. */
  private final Map<Integer, Long> logStart = new ConcurrentHashMap<>();

  /**
   * Kills node {@code victim} (kill -9) and starts watching: {@code lostRoom} lives on it;
   * {@code survivingRoom} lives on another node and has {@code victimUser} (a socket of the victim) as
   * a member.
   */
  public static KillTimeline kill(ProcessCluster nodes, int victim, String lostRoom, String survivingRoom, String victimUser)
      throws InterruptedException {
    int[] survivors = nodes.others(victim);
    KillTimeline t = new KillTimeline(nodes, victim, lostRoom);
    for (int i : survivors) {
      t.logStart.put(i, sizeOf(nodes.log(i)));
    }
    t.killedAt = System.currentTimeMillis();
    t.killedAtNanos = System.nanoTime();
    nodes.kill9(victim);
    int[] turn = {0};
    t.pollers.scheduleWithFixedDelay(() -> {
      HttpResponse<String> r = nodes.call(survivors[0], "GET", "/api/v1/rooms/" + survivingRoom + "/presence", null);
      if (r != null && r.statusCode() == 200 && !r.body().contains("\"" + victimUser + "\"")) {
        t.mark("presence healed");
      }
    }, 0, 100, TimeUnit.MILLISECONDS);
    t.pollers.scheduleAtFixedRate(() -> {
      int node = survivors[turn[0]++ % survivors.length];
      HttpRequest get = HttpRequest.newBuilder(URI.create(nodes.url(node, "/api/v1/rooms/" + lostRoom + "/presence")))
          .timeout(Duration.ofSeconds(10)).header("Authorization", "Bearer " + t.service).build();
      ProcessCluster.HTTP.sendAsync(get, HttpResponse.BodyHandlers.discarding()).thenAccept(r -> {
        if (r.statusCode() == 200) {
          t.mark("room answers");
        }
      });
    }, 0, POLL_MS, TimeUnit.MILLISECONDS);
    return t;
  }

  private KillTimeline(ProcessCluster nodes, int victim, String lostRoom) {
    this.nodes = nodes;
    this.victim = victim;
    this.lostRoom = lostRoom;
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      return 0;
    }
  }

  private void mark(String what) {
    seen.putIfAbsent(what, (System.nanoTime() - killedAtNanos) / 1e9);
  }

  /**
   * Waits until the lost room answers and the dead node's user has left presence, and prints the
   * timeline; returns when the room answered, in seconds after the kill.
   */
  public double follow() throws InterruptedException {
    double answers = await("room answers", Duration.ofSeconds(60));
    await("presence healed", Duration.ofSeconds(60));
    System.out.println("kill -9 timeline, seconds after the kill: " + line());
    return answers;
  }

  /** {@link #follow}, and the room answered within {@code bound} of the kill. */
  public void assertRoomAnswersWithin(Duration bound) throws InterruptedException {
    double answers = follow();
    if (answers > bound.toMillis() / 1e3) {
      throw new AssertionError("the killed node's room answered " + answers + " s after the kill, past " + bound.toSeconds()
          + " s: " + line());
    }
  }

  private double await(String what, Duration within) throws InterruptedException {
    long end = System.nanoTime() + within.toNanos();
    while (!seen.containsKey(what)) {
      if (System.nanoTime() > end) {
        throw new AssertionError(what + ": not within " + within.toSeconds() + " s of the kill; so far " + marks());
      }
      Thread.sleep(20);
    }
    return seen.get(what);
  }

  /** Every mark so far, in seconds after the kill, in the order they happened. */
  public Map<String, Double> marks() {
    Map<String, Double> all = new ConcurrentHashMap<>(seen);
    fromLogs("Marking node as UNREACHABLE", "unreachable", all);
    fromLogs("SBR took decision", "downed", all);
    fromLogs("room " + lostRoom + " recovered its journal", "journal recovered", all);
    Map<String, Double> ordered = new LinkedHashMap<>();
    all.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> ordered.put(e.getKey(), e.getValue()));
    return ordered;
  }

  /** One line: each mark with its second. */
  public String line() {
    List<String> parts = new ArrayList<>();
    marks().forEach((k, v) -> parts.add(String.format("%s %.1f", k, v)));
    return String.join(", ", parts);
  }

  /** The first line of a survivor's log after the kill that contains {@code text}, as a mark. */
  private void fromLogs(String text, String as, Map<String, Double> into) {
    LocalDate killDay = java.time.Instant.ofEpochMilli(killedAt).atZone(ZoneId.systemDefault()).toLocalDate();
    for (int i : nodes.others(victim)) {
      List<String> lines;
      try {
        byte[] all = Files.readAllBytes(nodes.log(i));
        int from = (int) Math.min(all.length, logStart.getOrDefault(i, 0L));
        lines = new String(all, from, all.length - from, StandardCharsets.UTF_8).lines().toList();
      } catch (IOException e) {
        continue;
      }
      for (String line : lines) {
        if (line.length() < 12 || !line.contains(text)) {
          continue;
        }
        long at;
        try {
          at = LocalDateTime.of(killDay, LocalTime.parse(line.substring(0, 12))).atZone(ZoneId.systemDefault())
              .toInstant().toEpochMilli();
        } catch (RuntimeException notATimestamp) {
          continue;
        }
        // a line logged just after midnight carries the next day's time
        double s = (at - killedAt) / 1e3;
        into.merge(as, s < -3600 ? s + 86_400 : s, Math::min);
        break;
      }
    }
  }

  /** Figures as "[7.2, 8.1]". */
  public static String seconds(List<Double> figures) {
    return figures.stream().map(f -> String.format("%.1f", f)).toList().toString();
  }

  @Override
  public void close() {
    pollers.shutdownNow();
  }

  /** The median of some figures (of several drills); NaN for none. */
  public static double median(List<Double> figures) {
    if (figures.isEmpty()) {
      return Double.NaN;
    }
    List<Double> sorted = new ArrayList<>(figures);
    sorted.sort(Double::compare);
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }
}

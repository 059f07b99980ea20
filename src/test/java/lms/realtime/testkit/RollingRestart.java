package lms.realtime.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A rolling restart of every node of a {@link ProcessCluster}, last first, each with SIGTERM, while
 * a backend publishes into one room every 50 ms and a {@link RecoveringClient} follows it, moving
 * to another node whenever its node stops.
 */
public final class RollingRestart {
  /** What the publisher got answered and what the client saw. */
  public record Result(Set<Long> published, Set<String> epochs, RecoveringClient watcher) {
    public Set<Long> lost() {
      Set<Long> lost = new TreeSet<>(published);
      lost.removeAll(watcher.seen);
      return lost;
    }

    /** One epoch, nothing lost, every reconnect recovered. */
    public void assertNothingLost() {
      assertEquals(1, epochs.size(), "the room kept its epoch through the rolling restart");
      assertTrue(lost().isEmpty(), "lost events: " + lost());
      assertEquals(watcher.connects - 1, watcher.recovered, "every reconnect recovered");
    }
  }

  /** Publishes answered between two steps (about a second at one every 50 ms, the pause the steps had): traffic goes on. */
  static final int TRAFFIC = 20;

  private RollingRestart() {}

  /** Until {@link #TRAFFIC} more publishes were answered, through the cluster as it now is. */
  static void awaitTraffic(Set<Long> published) throws Exception {
    int from = published.size();
    Eventually.within(TRAFFIC + " more answered publishes", Duration.ofSeconds(60), Duration.ofMillis(20), published::size,
        n -> n >= from + TRAFFIC);
  }

  public static Result run(ProcessCluster nodes, String room, String watcherToken) throws Exception {
    int n = nodes.processes.length;
    Set<Long> published = new ConcurrentSkipListSet<>();
    Set<String> epochs = new ConcurrentSkipListSet<>();
    AtomicBoolean publishing = new AtomicBoolean(true);
    Thread publisher = new Thread(() -> {
      int k = 0;
      while (publishing.get()) {
        try {
          int[] order = new int[n];
          for (int i = 0; i < n; i++) {
            order[i] = (k + i) % n;
          }
          JsonNode r = nodes.reliably(order, "POST", "/api/v1/rooms/" + room + "/events", "{\"event\":\"tick\",\"data\":{\"n\":" + k + "}}");
          published.add(r.get("seq").asLong());
          epochs.add(r.get("epoch").asText());
          k++;
          Thread.sleep(50);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    });
    RecoveringClient watcher = new RecoveringClient(room, node -> nodes.connect(node, watcherToken));
    watcher.connect(0);
    publisher.start();
    awaitTraffic(published);
    for (int victim = n - 1; victim >= 0; victim--) {
      nodes.term(victim);
      if (watcher.node == victim) {
        watcher.readUntilClosed();           // everything up to the 1012 of the stopping node
        watcher.connect((victim + 1) % n);   // and back in through another node, with since
      }
      assertTrue(nodes.processes[victim].waitFor(60, TimeUnit.SECONDS), "node " + victim + " did not stop on SIGTERM");
      assertEquals(0, nodes.processes[victim].exitValue(), "exit code after SIGTERM");
      nodes.start(victim);
      nodes.awaitReady(victim);
      awaitTraffic(published);
    }
    awaitTraffic(published);
    publishing.set(false);
    publisher.join(60_000);
    watcher.readUntilSeen(published, Duration.ofSeconds(3));
    Result result = new Result(published, epochs, watcher);
    System.out.printf("rolling restart of %d nodes (%s): %d events published, %d received by a client that reconnected %d times,"
            + " %d lost, epochs %s, recovered joins %d of %d%n",
        n, room, published.size(), watcher.seen.size(), watcher.connects - 1, result.lost().size(), epochs, watcher.recovered,
        watcher.connects - 1);
    watcher.ws.close();
    return result;
  }
}

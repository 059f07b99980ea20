package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.room.Room;
import lms.realtime.testkit.Eventually;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.Tokens;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Issue 12, item 11: failures that used to be silent are logged and counted in /metrics. */
@Tag("socket")
class FailuresTest {
  static final String SERVICE = Tokens.service();

  @Test
  void aStartingRoomPastItsBoundDropsAndCountsAndAnswersTheRest() throws Exception {
    TestNode node = TestNode.start(Map.of("lms.rooms.starting-stash", 10));
    try {
      var system = node.node.system();
      AtomicInteger answered = new AtomicInteger();
      ActorRef<Room.Appended> counter = system.systemActorOf(Behaviors.receive(Room.Appended.class)
          .onAnyMessage(p -> {
            answered.incrementAndGet();
            return Behaviors.same();
          }).build(), "published-counter", Props.empty());
      int sent = 0;
      // a burst into rooms that do not exist yet: each starts (reads its snapshot) under it
      for (int r = 0; r < 20 && node.metric("lms_room_stash_drops_total") == 0; r++) {
        var room = ClusterSharding.get(system).entityRefFor(Room.KEY, "course:99" + r);
        for (int i = 0; i < 500; i++) {
          room.tell(new Room.Append(List.of(new Room.Item(false, "e", "{}", null)), counter));
          sent++;
        }
        Thread.sleep(300);
      }
      double dropped = node.metric("lms_room_stash_drops_total");
      long all = sent;
      Eventually.within(Duration.ofSeconds(10), Duration.ofMillis(50), answered::get, a -> a + dropped >= all);
      System.out.printf("starting rooms holding 10: %d sent, %d answered, %.0f dropped and counted%n", sent, answered.get(), dropped);
      assertTrue(dropped > 0, "no drop past a bound of 10 in " + sent + " messages");
      assertEquals(sent, answered.get() + (long) dropped, "every message is either answered or counted as dropped");
    } finally {
      node.close();
    }
  }

  /** The timeout half (503, counted) is in NodeLossTest: a publish into a room on a node that just died. */
  @Test
  void aBugIs500LoggedAndCountedNotA503ToRetry() throws Exception {
    TestNode node = TestNode.start();
    try {
      // what a bug in a route's answer path would throw
      ApiError bug = new Publishing(node.node.context()).failed(new CompletionException(new NullPointerException("a bug")));
      assertEquals(500, bug.status());
      assertEquals(1.0, node.metric("lms_http_failures_total{reason=\"internal\"}"));
      assertEquals(0.0, node.metric("lms_http_failures_total{reason=\"timeout\"}"));
    } finally {
      node.close();
    }
  }
}

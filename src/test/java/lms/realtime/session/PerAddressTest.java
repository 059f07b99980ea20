package lms.realtime.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The per-IP counts under racing acquires and releases (issue 12, item 13): they never drift. */
class PerAddressTest {
  @Test
  void countsDoNotDriftUnderRacingAcquireAndRelease() throws Exception {
    PerAddress sockets = new PerAddress();
    int limit = 3;
    int threads = 8;
    int rounds = 200_000;
    AtomicInteger overLimit = new AtomicInteger();
    AtomicInteger held = new AtomicInteger();
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      Thread w = new Thread(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          return;
        }
        for (int i = 0; i < rounds; i++) {
          if (sockets.tryAcquire("198.51.100.1", limit)) {
            if (held.incrementAndGet() > limit) {
              overLimit.incrementAndGet();
            }
            held.decrementAndGet();
            sockets.release("198.51.100.1");
          }
        }
      });
      w.start();
      workers.add(w);
    }
    go.countDown();
    for (Thread w : workers) {
      w.join();
    }
    assertEquals(0, overLimit.get(), "slots handed out past the limit");
    for (int i = 0; i < limit; i++) {
      assertTrue(sockets.tryAcquire("198.51.100.1", limit), "slot " + i + " after the race");
    }
    assertFalse(sockets.tryAcquire("198.51.100.1", limit), "the limit holds after the race");
  }
}

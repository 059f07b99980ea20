import io.jsonwebtoken.Jwts;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.spec.SecretKeySpec;

/**
 * A quick, honest load driver for one node (the full side-by-side harness is bench/run.sh, issue 7).
 * Run against a node started with the same secret:
 *   LMS_JWT_SECRET=$SECRET LMS_MAX_CONNECTIONS_PER_IP=20000 java -jar target/lms-realtime.jar &
 *   java -cp target/lms-realtime.jar bench/QuickLoad.java http://127.0.0.1:8080 $SECRET 1000 2000 200 10
 * args: base URL, secret, members, handshakes, events/s, seconds. Prints its figures; never fails on timing.
 */
public class QuickLoad {
  static HttpClient http = HttpClient.newHttpClient();

  public static void main(String[] args) throws Exception {
    String base = args[0];
    SecretKeySpec key = new SecretKeySpec(args[1].getBytes(StandardCharsets.UTF_8), "HmacSHA256");
    int members = Integer.parseInt(args[2]);
    int handshakes = Integer.parseInt(args[3]);
    int rate = Integer.parseInt(args[4]);
    int seconds = Integer.parseInt(args[5]);
    String ws = base.replace("http", "ws") + "/ws?token=";
    String service = token(key, "bench-backend", Map.of("roles", List.of("service")));

    // 1. handshake storm: sockets per second from zero, each a JWT check, 64 in flight
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < handshakes; i++) {
      tokens.add(token(key, "hs-" + i, Map.of()));
    }
    Semaphore inFlight = new Semaphore(64);
    List<CompletableFuture<WebSocket>> opened = new ArrayList<>();
    long t0 = System.nanoTime();
    for (String t : tokens) {
      inFlight.acquire();
      CompletableFuture<WebSocket> f = http.newWebSocketBuilder().buildAsync(URI.create(ws + t), new WebSocket.Listener() {});
      f.whenComplete((w, e) -> inFlight.release());
      opened.add(f);
    }
    int ok = 0;
    for (CompletableFuture<WebSocket> f : opened) {
      try {
        f.join();
        ok++;
      } catch (Exception e) {
        // counted as failed
      }
    }
    double hsSeconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("handshakes: %d of %d in %.2f s = %.0f per second (64 in flight)%n", ok, handshakes, hsSeconds, ok / hsSeconds);
    for (CompletableFuture<WebSocket> f : opened) {
      f.thenAccept(w -> w.abort());
    }
    Thread.sleep(2000);

    // 2. fan-out: members in one course room, events through the backend API at a fixed rate
    AtomicLong delivered = new AtomicLong();
    ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
    List<WebSocket> sockets = new ArrayList<>();
    List<Listener> listeners = new ArrayList<>();
    CountDown joined = new CountDown(members);
    for (int i = 0; i < members; i++) {
      String t = token(key, "m-" + i, Map.of("courses", Map.of("1", "student")));
      Listener listener = new Listener(delivered, latencies, joined);
      listeners.add(listener);
      WebSocket s = http.newWebSocketBuilder().buildAsync(URI.create(ws + t), listener).join();
      s.sendText("{\"type\":\"join\",\"room\":\"course:1\"}", true).join();
      sockets.add(s);
    }
    joined.await();
    long periodNanos = 1_000_000_000L / rate;
    long start = System.nanoTime();
    int sent = 0;
    long deliveredBefore = delivered.get();
    while (System.nanoTime() - start < seconds * 1_000_000_000L) {
      long due = start + sent * periodNanos;
      while (System.nanoTime() < due) {
        Thread.onSpinWait();
      }
      String body = "{\"event\":\"tick\",\"data\":{\"t\":" + System.nanoTime() + "}}";
      http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/api/v1/rooms/course:1/events"))
          .header("Authorization", "Bearer " + service).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding());
      sent++;
    }
    long expected = (long) sent * members;
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (delivered.get() - deliveredBefore < expected && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    double window = (System.nanoTime() - start) / 1e9;
    long got = delivered.get() - deliveredBefore;
    for (Listener l : listeners) {
      latencies.add(Arrays.copyOf(l.mine, l.n));
    }
    long[] all = latencies.stream().flatMapToLong(Arrays::stream).toArray();
    Arrays.sort(all);
    System.out.printf("fan-out: %d members, %d events at %d/s: %d of %d deliveries, %.0f deliveries/s; publish-to-receive p50 %.1f ms, p99 %.1f ms, p999 %.1f ms, max %.1f ms%n",
        members, sent, rate, got, expected, got / window, pct(all, 0.50), pct(all, 0.99), pct(all, 0.999), all.length == 0 ? 0 : all[all.length - 1] / 1e6);
    sockets.forEach(WebSocket::abort);
    System.exit(0);
  }

  static double pct(long[] sorted, double p) {
    return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (p * sorted.length))] / 1e6;
  }

  static String token(SecretKeySpec key, String sub, Map<String, Object> claims) {
    return Jwts.builder().subject(sub).claims(claims).issuedAt(new Date())
        .expiration(Date.from(Instant.now().plusSeconds(3600))).signWith(key).compact();
  }

  static final class CountDown {
    final java.util.concurrent.CountDownLatch latch;

    CountDown(int n) {
      latch = new java.util.concurrent.CountDownLatch(n);
    }

    void await() throws InterruptedException {
      latch.await();
    }
  }

  static final class Listener implements WebSocket.Listener {
    final AtomicLong delivered;
    final ConcurrentLinkedQueue<long[]> sink;
    final CountDown joined;
    volatile long[] mine = new long[4096];
    volatile int n;
    StringBuilder partial = new StringBuilder();

    Listener(AtomicLong delivered, ConcurrentLinkedQueue<long[]> sink, CountDown joined) {
      this.delivered = delivered;
      this.sink = sink;
      this.joined = joined;
    }

    @Override
    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        String s = partial.toString();
        partial.setLength(0);
        int at = s.indexOf("\"t\":");
        if (at >= 0 && s.startsWith("{\"type\":\"event\"")) {
          long now = System.nanoTime();
          int end = s.indexOf('}', at);
          long sentAt = Long.parseLong(s.substring(at + 4, end));
          if (n == mine.length) {
            sink.add(Arrays.copyOf(mine, n));
            n = 0;
          }
          mine[n++] = now - sentAt;
          delivered.incrementAndGet();
        } else if (s.startsWith("{\"type\":\"joined\"")) {
          joined.latch.countDown();
        }
      }
      w.request(1);
      return null;
    }

  }
}

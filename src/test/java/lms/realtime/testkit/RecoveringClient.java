package lms.realtime.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.function.IntFunction;

/** A client that follows one room across reconnects, joining with since and keeping every seq seen. */
public final class RecoveringClient {
  public final String room;
  public final Set<Long> seen = new ConcurrentSkipListSet<>();
  private final IntFunction<WsClient> connector;
  public WsClient ws;
  public int node;
  public String epoch;
  public long seq;
  public int connects;
  public int recovered;

  /** {@code connector}: a socket past its welcome, to the node numbered. */
  public RecoveringClient(String room, IntFunction<WsClient> connector) {
    this.room = room;
    this.connector = connector;
  }

  public void connect(int node) {
    this.node = node;
    ws = connector.apply(node);
    String since = epoch == null ? "" : ",\"since\":{\"epoch\":\"" + epoch + "\",\"seq\":" + seq + "}";
    ws.send("{\"type\":\"join\",\"room\":\"" + room + "\"" + since + "}");
    JsonNode joined = ws.await("joined", Duration.ofSeconds(30));
    if (epoch != null && joined.get("recovered").asBoolean()) {
      recovered++;
      for (JsonNode e : joined.get("missed")) {
        take(e);
      }
    }
    if (epoch == null || !joined.get("recovered").asBoolean()) {
      epoch = joined.get("epoch").asText();
      seq = joined.get("seq").asLong();
    }
    connects++;
  }

  void take(JsonNode e) {
    if (e.get("epoch").asText().equals(epoch)) {
      seen.add(e.get("seq").asLong());
      seq = Math.max(seq, e.get("seq").asLong());
    }
  }

  public void readUntilClosed() {
    while (!ws.closed().isDone()) {
      String raw = ws.nextRaw(Duration.ofMillis(200));
      if (raw != null) {
        handle(raw);
      }
    }
    ws.drain().forEach(this::handle);
  }

  /** Reads until every seq of {@code wanted} was seen, or {@code within} has passed (what is missing is then lost). */
  public void readUntilSeen(Set<Long> wanted, Duration within) {
    long end = System.nanoTime() + within.toNanos();
    while (!seen.containsAll(wanted) && System.nanoTime() < end) {
      String raw = ws.nextRaw(Duration.ofMillis(100));
      if (raw != null) {
        handle(raw);
      }
    }
  }

  void handle(String raw) {
    try {
      JsonNode f = WsClient.JSON.readTree(raw);
      if ("event".equals(f.path("type").asText())) {
        take(f);
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}

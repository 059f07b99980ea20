package lms.realtime.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Where requests begin and end in a connection's bytes (the header timers' reader, issue 22), on its
 * own: each event at the byte that causes it, the same whether the bytes come byte by byte, in chunks
 * of any size or whole (a whole pipelined run is one read).
 */
class RequestFramingTest {
  private static final int[] CHUNKS = {2, 3, 7, 64, Integer.MAX_VALUE};

  /** "started@i" and "ended@i", i the offset of the byte that caused it (read byte by byte). */
  private static List<String> events(String input) {
    byte[] bytes = input.getBytes(StandardCharsets.ISO_8859_1);
    List<String> events = new ArrayList<>();
    int[] at = {0};
    RequestFraming framing = new RequestFraming(new RequestFraming.Listener() {
      @Override
      public void started() {
        events.add("started@" + at[0]);
      }

      @Override
      public void ended() {
        events.add("ended@" + at[0]);
      }
    });
    for (at[0] = 0; at[0] < bytes.length; at[0]++) {
      byte b = bytes[at[0]];
      framing.read(1, i -> b);
    }
    for (int chunk : CHUNKS) {
      assertEquals(kinds(events), kinds(chunked(bytes, chunk)), "in chunks of " + chunk);
    }
    return events;
  }

  private static List<String> chunked(byte[] bytes, int chunk) {
    List<String> events = new ArrayList<>();
    RequestFraming framing = new RequestFraming(new RequestFraming.Listener() {
      @Override
      public void started() {
        events.add("started");
      }

      @Override
      public void ended() {
        events.add("ended");
      }
    });
    for (int from = 0; from < bytes.length; from += chunk) {
      int start = from;
      framing.read((int) Math.min(chunk, bytes.length - (long) from), i -> bytes[start + i]);
    }
    return events;
  }

  private static List<String> kinds(List<String> events) {
    return events.stream().map(e -> e.replaceAll("@.*", "")).toList();
  }

  private static String ends(String input, String... parts) {
    return "ended@" + (input.indexOf(String.join("", parts)) + String.join("", parts).length() - 1);
  }

  @Test
  void aRequestWithoutABodyEndsWithItsHeaderSection() {
    String get = "GET /health/live HTTP/1.1\r\nHost: a\r\n\r\n";
    assertEquals(List.of("started@0", "ended@" + (get.length() - 1)), events(get));
  }

  @Test
  void pipelinedRequestsInOneReadEachStartAtTheirFirstByte() {
    String one = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    String two = "GET /b HTTP/1.1\r\nHo";
    assertEquals(List.of("started@0", "ended@" + (one.length() - 1), "started@" + one.length()), events(one + two));
  }

  @Test
  void aBodyOfContentLengthBytesIsPartOfTheRequest() {
    String post = "POST /api HTTP/1.1\r\nHost: a\r\ncontent-LENGTH:  5 \r\n\r\nhello";
    String next = "GET / HTTP/1.1\r\n\r\n";
    assertEquals(List.of("started@0", "ended@" + (post.length() - 1), "started@" + post.length(),
        "ended@" + (post.length() + next.length() - 1)), events(post + next));
    assertEquals(List.of("started@0"), events(post.substring(0, post.length() - 1)), "a body one byte short");
  }

  @Test
  void aChunkedBodyEndsAfterItsLastChunkAndTrailers() {
    String post = "POST /api HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 3\r\n\r\n"
        + "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
    assertEquals(List.of("started@0", ends(post, "Trailer: x\r\n\r\n")), events(post));
    String noTrailers = "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assertEquals(List.of("started@0", "ended@" + (noTrailers.length() - 1)), events(noTrailers));
  }

  @Test
  void onlyTheFieldNamesCountAndOnlyAFinalChunkedCoding() {
    String lookalikes = "POST / HTTP/1.1\r\nX-Content-Length: 5\r\nContent-Lengths: 5\r\nX: content-length: 5\r\n"
        + "Transfer-Encoding: chunked, gzip\r\n\r\n";
    assertEquals(List.of("started@0", "ended@" + (lookalikes.length() - 1)), events(lookalikes));
  }

  @Test
  void lineFeedsAloneEndLinesAndEmptyLinesBeforeARequestAreSkippedButStartIt() {
    String lf = "GET / HTTP/1.1\nHost: a\n\n";
    assertEquals(List.of("started@0", "ended@" + (lf.length() - 1)), events(lf));
    String leading = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assertEquals(List.of("started@0", "ended@" + (leading.length() - 1)), events(leading));
    assertEquals(List.of("started@0"), events("\r\n"), "a trickle of line ends is a request that does not end");
  }

  @Test
  void aHugeLengthNeverEndsAndDoesNotOverflow() {
    assertEquals(List.of("started@0"), events("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nabc"));
    assertEquals(List.of("started@0"),
        events("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\nabc"));
  }
}

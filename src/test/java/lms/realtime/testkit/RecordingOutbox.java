package lms.realtime.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.typesafe.config.ConfigFactory;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Drainer;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.Outbox;
import lms.realtime.metrics.Metrics;

/**
 * A socket's outgoing side in memory, for actor-level tests of fan-out: it keeps the text of every
 * frame it is sent, in order, on the sender's thread ({@link Drainer#INLINE}). With a probe as the
 * socket's actor ({@link ProbeSocket}), it is the whole socket as a hub or a room sees it.
 */
public final class RecordingOutbox extends Outbox {
  public static final Settings SETTINGS = Settings.from(ConfigFactory.load());

  private final BlockingQueue<String> texts = new LinkedBlockingQueue<>();

  public RecordingOutbox(Metrics metrics) {
    super(SETTINGS, metrics);
  }

  /** The next frame's text, waiting for it a few seconds. */
  public String next() throws InterruptedException {
    String text = texts.poll(3, TimeUnit.SECONDS);
    assertNotNull(text, "no frame came");
    return text;
  }

  /** The next frames are these, in this order. */
  public void expect(String... frames) throws InterruptedException {
    for (String frame : frames) {
      assertEquals(frame, next());
    }
  }

  /** What came and was not taken yet. */
  public String[] pending() {
    return texts.toArray(new String[0]);
  }

  public void expectNothingMore() {
    assertEquals("[]", Arrays.toString(pending()));
  }

  @Override
  public void send(Frame frame) {
    if (!isClosing()) {
      texts.add(textOf(frame.wire()));
    }
  }

  @Override
  public void welcome(Frame frame) {
    send(frame);
  }

  @Override
  public Drainer drainer() {
    return Drainer.INLINE;
  }

  @Override
  public void abort() {}

  @Override
  public void complete() {}

  @Override
  protected void closeNow(Frame closeFrame) {}

  /** The payload of an unmasked server frame as text. */
  private static String textOf(byte[] wire) {
    int length = wire[1] & 0x7F;
    int header = length < 126 ? 2 : length == 126 ? 4 : 10;
    return new String(wire, header, wire.length - header, StandardCharsets.UTF_8);
  }
}

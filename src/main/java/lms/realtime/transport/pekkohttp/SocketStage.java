package lms.realtime.transport.pekkohttp;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
import lms.realtime.session.Incoming;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * One socket's whole WebSocket, bytes in and bytes out, in a single stage (RFC 6455, server side).
 *
 * <p><b>In</b>: a {@link FrameReader} parses and unmasks client frames as they arrive; a text message
 * (fragments joined, control frames allowed between them) goes to the {@link Connection} actor, and
 * the next is read only when the actor has taken it (back-pressure down to TCP). A message over the
 * size bound is not kept: the actor hears at once (it closes with 1009) and the rest is skipped as it
 * arrives. A binary message is reported at its first frame (the actor closes with 1003) and skipped.
 * Pings are answered with a pong (only the latest, as RFC 6455 §5.5.3 allows). Broken framing is
 * closed with 1002, a text message that is not UTF-8 with 1007.
 *
 * <p><b>Out</b>: whatever the socket's {@link StageOutbox} holds, as one write: frames that piled up
 * while the previous write was on its way go out together. The close frame goes ahead of queued
 * frames and nothing follows it; after it the stage reads on, dropping what comes, until the
 * client's close (at most the close timeout; after a slow reader's 4008, the close grace). With
 * {@code keepAliveIdle} set, a ping goes out when nothing else has for that long (for proxies that
 * cut quiet connections).
 */
final class SocketStage extends GraphStage<FlowShape<ByteString, ByteString>> {
  /** A write takes queued frames up to about this many bytes. */
  private static final int MAX_WRITE_BYTES = 64 * 1024;
  private static final Object KEEP_ALIVE = "keep-alive";
  private static final Object CLOSE_TIMEOUT = "close-timeout";
  private static final ByteBuffer NO_BYTES = ByteBuffer.allocate(0);
  private static final ByteString KEEP_ALIVE_PING = ByteString.fromArrayUnsafe(Frame.control(Frame.OP_PING, new byte[0], 0).wire());

  private final Inlet<ByteString> in = Inlet.create("socket.in");
  private final Outlet<ByteString> out = Outlet.create("socket.out");
  private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
  private final ActorRef<MemberInbox> connection;
  private final StageOutbox outbox;
  private final Gate gate;
  private final Metrics metrics;
  private final int maxMessageBytes;
  private final Duration keepAliveIdle;
  private final Duration closeTimeout;

  SocketStage(ActorRef<MemberInbox> connection, StageOutbox outbox, Gate gate, Metrics metrics,
      int maxMessageBytes, Duration keepAliveIdle, Duration closeTimeout) {
    this.connection = connection;
    this.outbox = outbox;
    this.gate = gate;
    this.metrics = metrics;
    this.maxMessageBytes = maxMessageBytes;
    this.keepAliveIdle = keepAliveIdle;
    this.closeTimeout = closeTimeout;
  }

  @Override
  public FlowShape<ByteString, ByteString> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes inheritedAttributes) {
    return new Logic();
  }

  private final class Logic extends TimerGraphStageLogic {
    // --- reading ---
    private final FrameReader reader = new FrameReader(maxMessageBytes);
    /** What is left of the latest chunk from TCP; the reader has taken all of it before the next is pulled. */
    private ByteBuffer chunk = NO_BYTES;
    private boolean awaitingAck;
    private boolean inputDone; // the peer closed its side of the TCP connection

    // --- writing ---
    private ByteString pong; // the answer to the latest ping, not sent yet
    private boolean keepAlivePing;
    private boolean closeSent;
    private boolean closeReceived;
    private ByteString closeAnswer; // our answer to the client's close
    private long lastWriteNanos = System.nanoTime();

    private final AsyncCallback<Object> ackCallback = createAsyncCallback(x -> onAck());
    private final AsyncCallback<Object> wakeCallback = createAsyncCallback(x -> onWake());
    private final Runnable ack = () -> ackCallback.invoke(Boolean.TRUE);

    Logic() {
      super(shape);
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          chunk = grab(in).asByteBuffer();
          read();
        }

        @Override
        public void onUpstreamFinish() {
          // The peer's TCP side is gone. Messages it sent before are still handed to the actor, one
          // by one as it acks them; then the socket ends.
          inputDone = true;
          read();
        }
      });
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          write();
        }
      });
    }

    @Override
    public void preStart() {
      outbox.attach(() -> wakeCallback.invoke(Boolean.TRUE));
      awaitingAck = true;
      connection.tell(new Connection.SocketOpened(ack));
      if (!keepAliveIdle.isZero()) {
        scheduleWithFixedDelay(KEEP_ALIVE, keepAliveIdle, keepAliveIdle);
      }
      onWake(); // a close or abort may have come before the stream ran
    }

    @Override
    public void postStop() {
      connection.tell(Connection.SocketClosed.INSTANCE);
    }

    @Override
    public void onTimer(Object key) {
      if (key == CLOSE_TIMEOUT) {
        completeStage();
      } else if (key == KEEP_ALIVE && !closeSent && System.nanoTime() - lastWriteNanos >= keepAliveIdle.toNanos()) {
        keepAlivePing = true;
        write();
      }
    }

    private void onAck() {
      awaitingAck = false;
      read();
    }

    private void onWake() {
      if (outbox.aborted()) {
        failStage(new IOException("socket aborted: the peer took not even the close frame"));
        return;
      }
      if (outbox.finished() && outbox.closeFrame() == null && closeAnswer == null) {
        completeStage();
        return;
      }
      write();
    }

    // ---------------------------------------------------------------- out

    private void write() {
      if (!isAvailable(out) || closeSent) {
        return;
      }
      ByteString closing = closeAnswer != null ? closeAnswer : outbox.closeFrame();
      if (closing != null) {
        writeClose(closing);
        return;
      }
      ByteString chunk = null;
      if (pong != null) {
        chunk = pong;
        pong = null;
      } else if (keepAlivePing) {
        chunk = KEEP_ALIVE_PING;
      }
      keepAlivePing = false;
      ByteString frames = outbox.drain(MAX_WRITE_BYTES);
      if (frames == null && chunk == null && outbox.sleep()) {
        frames = outbox.drain(MAX_WRITE_BYTES);
      }
      if (frames != null) {
        chunk = chunk == null ? frames : chunk.concat(frames);
      }
      if (chunk != null) {
        lastWriteNanos = System.nanoTime();
        push(out, chunk);
      }
    }

    /**
     * The close frame goes alone and last; then the client's close is awaited, reading (and dropping)
     * what it still sends: the stage may not end while the peer sends (a slow reader keeps its
     * heartbeat), since TCP would then be closed with input unread, which the kernel answers with a
     * reset that drops what it had not sent yet, the close frame included (the client's 1006). A slow
     * reader (4008) may take a while to read what is ahead of the close frame: its bound is the close
     * grace (its actor's); any other peer has the close timeout.
     */
    private void writeClose(ByteString closing) {
      closeSent = true;
      reader.closing();
      outbox.discard();
      push(out, closing);
      if (closeReceived || reader.stopped() || outbox.finished()) {
        completeStage(); // the close frame is written first; after broken framing nothing is read
      } else if (outbox.closeCode() != CloseCodes.SLOW_CONSUMER) {
        scheduleOnce(CLOSE_TIMEOUT, closeTimeout);
      }
    }

    // ---------------------------------------------------------------- in

    private void read() {
      // out closes only with the whole stage (a close handshake may end it in the middle of a step)
      while (!awaitingAck && !isClosed(out)) {
        FrameReader.Event event = reader.read(chunk);
        if (event == FrameReader.Event.NEED_MORE) {
          chunk = NO_BYTES; // do not keep the read chunk while the socket is idle
          break;
        }
        on(event);
      }
      if (awaitingAck || isClosed(out)) {
        return;
      }
      if (inputDone) {
        completeStage(); // what the peer sent before closing has been handed on
      } else if (!isClosed(in) && !hasBeenPulled(in)) {
        pull(in);
      }
    }

    private void on(FrameReader.Event event) {
      switch (event) {
        case TEXT -> onText(reader.text());
        case BINARY -> deliver(Incoming.Binary.INSTANCE);
        case TOO_LARGE -> connection.tell(Connection.FrameTooLarge.INSTANCE);
        case PING -> onPing();
        case CLOSE -> onClose();
        case PROTOCOL_ERROR -> connection.tell(new MemberInbox.Close(reader.failureCode(), reader.failureReason()));
        case NEED_MORE -> { }
      }
    }

    private void onText(String text) {
      if (!gate.answerPing(text, outbox, connection, metrics)) {
        deliver(new Incoming.Text(text));
      }
    }

    private void onPing() {
      if (!closeSent) {
        pong = wire(reader.pong());
        write();
      }
    }

    private void deliver(Incoming incoming) {
      awaitingAck = true;
      connection.tell(new Connection.Inbound(ack, incoming));
    }

    /** The client's close: answered (its code echoed) unless ours went first; then the socket ends. */
    private void onClose() {
      closeReceived = true;
      if (closeSent) {
        completeStage();
        return;
      }
      closeAnswer = wire(reader.closeReply());
      write();
    }

    private ByteString wire(Frame frame) {
      return ByteString.fromArrayUnsafe(frame.wire());
    }
  }
}

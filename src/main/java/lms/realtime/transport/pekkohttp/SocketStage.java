package lms.realtime.transport.pekkohttp;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.metrics.Metrics;
import lms.realtime.protocol.CloseCodes;
import lms.realtime.session.Connection;
import lms.realtime.session.Gate;
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
 * <p><b>In</b>: client frames are parsed and unmasked as they arrive; a text message (fragments
 * joined, control frames allowed between them) goes to the {@link Connection} actor, and the next
 * is read only when the actor has taken it (back-pressure down to TCP). A message over the size
 * bound is not kept: the actor hears at once (it closes with 1009) and the rest is skipped as it
 * arrives. A binary message is reported at its first frame (the actor closes with 1003) and skipped.
 * Pings are answered with a pong (only the latest, as RFC 6455 §5.5.3 allows). Broken framing is
 * closed with 1002, a text message that is not UTF-8 with 1007.
 *
 * <p><b>Out</b>: whatever the socket's {@link StageOutbox} holds, as one write: frames that piled up
 * while the previous write was on its way go out together. The close frame goes ahead of queued
 * frames and nothing follows it; after it the stage waits for the client's close, at most the close
 * timeout. With {@code keepAliveIdle} set, a ping goes out when nothing else has for that long (for
 * proxies that cut quiet connections).
 */
final class SocketStage extends GraphStage<FlowShape<ByteString, ByteString>> {
  /** A write takes queued frames up to about this many bytes. */
  private static final int MAX_WRITE_BYTES = 64 * 1024;
  private static final Object KEEP_ALIVE = "keep-alive";
  private static final Object CLOSE_TIMEOUT = "close-timeout";
  private static final ByteString KEEP_ALIVE_PING = ByteString.fromArrayUnsafe(Frame.control(Frame.OP_PING, new byte[0], 0).wire());
  private static final int OP_CONTINUATION = 0x0;
  private static final int OP_BINARY = 0x2;

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
    private ByteString buffer = ByteString.emptyByteString();
    private boolean inFrame; // false: waiting for a header
    private boolean fin;
    private int opcode;
    private long remaining;
    private final byte[] mask = new byte[4];
    private int maskPos;
    /** Opcode of the data message under way (text or binary), 0 when none is. */
    private int messageOpcode;
    private boolean skipping; // the message is over the bound or binary: its bytes are not kept
    private byte[] message;
    private int messageLength;
    private final byte[] control = new byte[125];
    private int controlLength;
    private boolean awaitingAck;
    private boolean broken; // a protocol error: input is ignored until the close ends the socket
    private boolean inputDone; // the peer closed its side of the TCP connection
    private CharsetDecoder utf8;

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
          ByteString bytes = grab(in);
          buffer = buffer.isEmpty() ? bytes : buffer.concat(bytes);
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
        failStage(new java.io.IOException("socket aborted: the peer took not even the close frame"));
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
        closeSent = true;
        outbox.discard();
        push(out, closing);
        if (closeReceived || broken || outbox.finished()) {
          completeStage(); // the close frame is written first; after broken framing nothing is read
        } else {
          scheduleOnce(CLOSE_TIMEOUT, closeTimeout);
        }
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

    // ---------------------------------------------------------------- in

    private void read() {
      // out closes only with the whole stage (a close handshake may end it in the middle of a step)
      while (!awaitingAck && !isClosed(out) && step()) {
        // each step consumes a header or some payload
      }
      if (awaitingAck || isClosed(out)) {
        return;
      }
      if (inputDone) {
        completeStage(); // what the peer sent before closing has been handed on
      } else if (!isClosed(in) && !hasBeenPulled(in)) {
        if (!buffer.isEmpty() && buffer.size() < 1024) {
          buffer = buffer.compact(); // a part of a header: do not keep the whole read chunk for it
        }
        pull(in);
      }
    }

    /** Consumes what it can of the buffer; false when it needs more bytes. */
    private boolean step() {
      if (broken) {
        buffer = ByteString.emptyByteString();
        return false;
      }
      if (!inFrame) {
        return header();
      }
      int n = (int) Math.min(remaining, buffer.size());
      if (n == 0 && remaining > 0) {
        return false;
      }
      if (n > 0) {
        payload(buffer.take(n));
        buffer = buffer.drop(n);
        remaining -= n;
      }
      if (remaining == 0) {
        inFrame = false;
        endOfFrame();
      }
      return true;
    }

    private boolean header() {
      if (buffer.size() < 2) {
        return false;
      }
      int b0 = buffer.apply(0) & 0xFF;
      int b1 = buffer.apply(1) & 0xFF;
      int len7 = b1 & 0x7F;
      int extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
      int headerLength = 2 + extended + 4;
      if ((b1 & 0x80) == 0) {
        return protocolError(CloseCodes.PROTOCOL_ERROR, "client frames must be masked");
      }
      if (buffer.size() < headerLength) {
        return false;
      }
      long length = len7;
      if (extended > 0) {
        length = 0;
        for (int i = 0; i < extended; i++) {
          length = (length << 8) | (buffer.apply(2 + i) & 0xFF);
        }
      }
      for (int i = 0; i < 4; i++) {
        mask[i] = buffer.apply(2 + extended + i);
      }
      buffer = buffer.drop(headerLength);
      fin = (b0 & 0x80) != 0;
      opcode = b0 & 0x0F;
      if ((b0 & 0x70) != 0) {
        return protocolError(CloseCodes.PROTOCOL_ERROR, "reserved bits set");
      }
      if (length < 0) {
        return protocolError(CloseCodes.PROTOCOL_ERROR, "bad frame length");
      }
      boolean isControl = (opcode & 0x8) != 0;
      if (isControl) {
        if (opcode != Frame.OP_CLOSE && opcode != Frame.OP_PING && opcode != Frame.OP_PONG) {
          return protocolError(CloseCodes.PROTOCOL_ERROR, "unknown opcode " + opcode);
        }
        if (!fin || length > 125) {
          return protocolError(CloseCodes.PROTOCOL_ERROR, "bad control frame");
        }
        controlLength = 0;
      } else if (opcode == OP_CONTINUATION) {
        if (messageOpcode == 0) {
          return protocolError(CloseCodes.PROTOCOL_ERROR, "continuation without a message");
        }
      } else if (opcode == Frame.OP_TEXT || opcode == OP_BINARY) {
        if (messageOpcode != 0) {
          return protocolError(CloseCodes.PROTOCOL_ERROR, "new message inside a fragmented one");
        }
        startMessage(opcode);
      } else {
        return protocolError(CloseCodes.PROTOCOL_ERROR, "unknown opcode " + opcode);
      }
      if (!isControl && !skipping && messageLength + length > maxMessageBytes) {
        skipping = true; // over the bound: tell the actor now, and drop the bytes as they come
        message = null;
        if (!closeSent) {
          connection.tell(Connection.FrameTooLarge.INSTANCE);
        }
      }
      remaining = length;
      maskPos = 0;
      inFrame = true;
      return true;
    }

    private void startMessage(int op) {
      messageOpcode = op;
      messageLength = 0;
      skipping = op == OP_BINARY || closeSent;
      message = null;
      if (op == OP_BINARY && !closeSent) {
        deliver(Connection.Binary.INSTANCE);
      }
    }

    /** Unmasked payload bytes of the current frame. */
    private void payload(ByteString bytes) {
      int n = bytes.size();
      if ((opcode & 0x8) != 0) {
        bytes.copyToArray(control, controlLength, n);
        unmask(control, controlLength, n);
        controlLength += n;
      } else if (skipping) {
        maskPos += n;
      } else {
        if (message == null || message.length < messageLength + n) {
          // sized by the bytes that came, not by the length the header declares (which may never come)
          byte[] grown = new byte[(int) Math.min(maxMessageBytes, Math.max(messageLength + n, 2L * (message == null ? 0 : message.length)))];
          if (message != null) {
            System.arraycopy(message, 0, grown, 0, messageLength);
          }
          message = grown;
        }
        bytes.copyToArray(message, messageLength, n);
        unmask(message, messageLength, n);
        messageLength += n;
      }
    }

    private void unmask(byte[] bytes, int from, int n) {
      for (int i = 0; i < n; i++) {
        bytes[from + i] ^= mask[(maskPos++) & 3];
      }
    }

    private void endOfFrame() {
      switch (opcode) {
        case Frame.OP_PING -> {
          if (!closeSent) {
            pong = wire(Frame.control(Frame.OP_PONG, control, controlLength));
            write();
          }
        }
        case Frame.OP_PONG -> {
          // an answer to our keep-alive: nothing to do
        }
        case Frame.OP_CLOSE -> onClose();
        default -> {
          if (fin) {
            endOfMessage();
          }
        }
      }
    }

    private void endOfMessage() {
      int op = messageOpcode;
      boolean skipped = skipping;
      byte[] bytes = message;
      int length = messageLength;
      messageOpcode = 0;
      skipping = false;
      message = null;
      messageLength = 0;
      if (op != Frame.OP_TEXT || skipped || closeSent) {
        return;
      }
      String text = length == 0 ? "" : utf8(bytes, 0, length);
      if (text == null) {
        protocolError(CloseCodes.INVALID_PAYLOAD, "text message is not UTF-8");
        return;
      }
      if (!gate.answerPing(text, outbox, connection, metrics)) {
        deliver(new Connection.Text(text));
      }
    }

    /** The bytes as text, or null when they are not well-formed UTF-8. */
    private String utf8(byte[] bytes, int offset, int length) {
      if (utf8 == null) {
        utf8 = StandardCharsets.UTF_8.newDecoder(); // reports malformed input (a new decoder's default)
      }
      try {
        return utf8.reset().decode(ByteBuffer.wrap(bytes, offset, length)).toString();
      } catch (CharacterCodingException e) {
        return null;
      }
    }

    private void deliver(Connection.Incoming incoming) {
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
      if (controlLength == 0) {
        closeAnswer = wire(Frame.control(Frame.OP_CLOSE, new byte[0], 0));
      } else {
        int code = controlLength >= 2 ? ((control[0] & 0xFF) << 8) | (control[1] & 0xFF) : 0;
        boolean validReason = utf8(control, 2, Math.max(0, controlLength - 2)) != null;
        // RFC 6455 §7.1.6 and §8.1: a reason that is not UTF-8 fails the connection with 1007
        closeAnswer = wire(controlLength < 2 || !validCloseCode(code) ? Frame.close(CloseCodes.PROTOCOL_ERROR, "bad close frame")
            : !validReason ? Frame.close(CloseCodes.INVALID_PAYLOAD, "close reason is not UTF-8")
            : Frame.close(code, ""));
      }
      broken = true; // nothing after a close frame is read
      write();
    }

    private ByteString wire(Frame frame) {
      return ByteString.fromArrayUnsafe(frame.wire());
    }

    /** RFC 6455 §7.4: codes a peer may send. */
    private boolean validCloseCode(int code) {
      return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    }

    /** Broken framing or encoding: close with this code; nothing more is read. */
    private boolean protocolError(int code, String reason) {
      broken = true;
      buffer = ByteString.emptyByteString();
      connection.tell(new MemberInbox.Close(code, reason));
      return false;
    }
  }
}

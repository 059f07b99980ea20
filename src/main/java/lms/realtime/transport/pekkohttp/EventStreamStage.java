package lms.realtime.transport.pekkohttp;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.session.Connection;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * One event stream of the HTTP fallback on the pekko-http transport ({@code GET /sse}, contract
 * §10): the source of its response's body, which pekko-http writes as it comes (no length, no
 * chunking: the stream ends with the connection). Each time pekko-http takes more, the stage writes
 * what its {@link StreamOutbox} holds as one chunk, or a due keep-alive comment; the close event
 * goes alone and last, and the stream ends. The client's going away cancels the stage, and the
 * connection's actor hears of it.
 */
final class EventStreamStage extends GraphStage<SourceShape<ByteString>> {
  /** A write takes queued events up to about this many bytes. */
  private static final int MAX_WRITE_BYTES = 64 * 1024;
  private static final ByteString COMMENT = ByteString.fromString(":\n\n", StandardCharsets.US_ASCII);

  private final Outlet<ByteString> out = Outlet.create("event-stream.out");
  private final SourceShape<ByteString> shape = SourceShape.of(out);
  private final ActorRef<MemberInbox> connection;
  private final StreamOutbox outbox;
  private final Set<StreamOutbox> open;

  /** {@code open}: the node's streams, for its keep-alive ticker; this one is in it while it runs. */
  EventStreamStage(ActorRef<MemberInbox> connection, StreamOutbox outbox, Set<StreamOutbox> open) {
    this.connection = connection;
    this.outbox = outbox;
    this.open = open;
  }

  @Override
  public SourceShape<ByteString> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes inheritedAttributes) {
    return new Logic();
  }

  private final class Logic extends GraphStageLogic {
    private final AsyncCallback<Object> wakeCallback = createAsyncCallback(x -> onWake());
    private boolean closeSent;

    Logic() {
      super(shape);
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
      open.add(outbox);
      connection.tell(new Connection.SocketOpened(() -> {}));
      onWake(); // a close or abort may have come before the stream ran
    }

    @Override
    public void postStop() {
      open.remove(outbox);
      connection.tell(Connection.SocketClosed.INSTANCE);
    }

    private void onWake() {
      if (outbox.aborted()) {
        failStage(new IOException("stream aborted: the peer took not even the close event"));
        return;
      }
      if (outbox.finished() && outbox.closeFrame() == null) {
        completeStage();
        return;
      }
      write();
    }

    private void write() {
      if (!isAvailable(out) || closeSent) {
        return;
      }
      ByteString closing = outbox.closeFrame();
      if (closing != null) {
        closeSent = true;
        outbox.discard();
        push(out, closing);
        completeStage();
        return;
      }
      boolean keepAlive = outbox.takeKeepAlive();
      ByteString chunk = outbox.drain(MAX_WRITE_BYTES);
      if (chunk == null && !keepAlive && outbox.sleep()) {
        chunk = outbox.drain(MAX_WRITE_BYTES);
      }
      if (chunk == null && keepAlive) {
        chunk = COMMENT;
      }
      if (chunk != null) {
        push(out, chunk);
      }
    }
  }
}

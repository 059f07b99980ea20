package lms.realtime.transport.pekkohttp;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import lms.realtime.session.PerAddress;
import lms.realtime.transport.RequestFraming;
import lms.realtime.transport.UnfinishedRequest;
import org.apache.pekko.Done;
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
 * Half-open connections on the pekko-http transport (issue 12), on a connection's inbound bytes
 * before pekko-http's parser sees them: a request (line, headers, body) must have come within
 * {@code lms.http.header-timeout} of the connection opening, or of its first byte for a later request,
 * and a peer may hold at most {@code lms.http.max-unfinished-per-ip} unfinished requests (past it the
 * connection is closed at once). pekko-http has no such timeout of its own.
 *
 * <p>Every request is timed, not only the first (issue 22: a second request begun in the read that
 * ended the first was held until the idle timeout). Its parser reads ahead, pipelined requests
 * included, and says nothing of a request until its headers are in, so the guard finds where each
 * request begins and ends in the bytes itself ({@link UnfinishedRequest}, {@link RequestFraming}:
 * the header section, then the body by Content-Length or chunks). Once the connection's 101 has
 * gone out ({@link #becameSocket}), its bytes are WebSocket frames and the guard lets them pass
 * unread. One stage per connection.
 */
final class HeaderGuard extends GraphStage<FlowShape<ByteString, ByteString>> {
  private static final Object TIMEOUT = "header-timeout";

  private final Inlet<ByteString> in = Inlet.create("header-guard.in");
  private final Outlet<ByteString> out = Outlet.create("header-guard.out");
  private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
  private final String address;
  private final PerAddress unfinished;
  private final int maxUnfinished;
  private final Duration timeout;
  /** Set when the stage starts, before any byte passes (so before any request can be answered). */
  private volatile AsyncCallback<Done> socketOpened;

  HeaderGuard(String address, PerAddress unfinished, int maxUnfinished, Duration timeout) {
    this.address = address;
    this.unfinished = unfinished;
    this.maxUnfinished = maxUnfinished;
    this.timeout = timeout;
  }

  /** The connection's 101 answer goes out: from any thread, before the client can send a frame. */
  void becameSocket() {
    AsyncCallback<Done> callback = socketOpened;
    if (callback != null) {
      callback.invoke(Done.getInstance());
    }
  }

  @Override
  public FlowShape<ByteString, ByteString> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new Logic();
  }

  private final class Logic extends TimerGraphStageLogic implements UnfinishedRequest.Guard {
    private final UnfinishedRequest request = new UnfinishedRequest(unfinished, address, maxUnfinished, this);

    Logic() {
      super(shape);
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          ByteString bytes = grab(in);
          request.read(bytes.size(), bytes::apply);
          if (!isClosed(out)) {
            push(out, bytes);
          }
        }
      });
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          pull(in);
        }
      });
    }

    @Override
    public void preStart() {
      socketOpened = createAsyncCallback(done -> request.stop());
      request.started(); // the first request is due from now on
    }

    @Override
    public void startTimer() {
      scheduleOnce(TIMEOUT, timeout);
    }

    @Override
    public void stopTimer() {
      cancelTimer(TIMEOUT);
    }

    @Override
    public void refuse() {
      failStage(new IllegalStateException("too many unfinished requests from " + address));
    }

    @Override
    public void onTimer(Object key) {
      failStage(new TimeoutException("no whole request within " + timeout));
    }

    @Override
    public void postStop() {
      request.stop();
    }
  }
}

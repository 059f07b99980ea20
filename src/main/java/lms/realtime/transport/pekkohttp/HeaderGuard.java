package lms.realtime.transport.pekkohttp;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import lms.realtime.session.PerAddress;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * Half-open connections on the pekko-http transport (issue 12), on a connection's inbound bytes
 * before pekko-http's parser sees them: the first request's line and headers (up to the blank line
 * that ends them) must come within {@code lms.http.header-timeout} of the connection opening, and a
 * peer may hold at most {@code lms.http.max-unfinished-per-ip} connections that have not got that
 * far (past it a new one is closed at once). pekko-http has no such timeout of its own; later
 * requests of a kept-alive connection are bounded by its idle timeout only.
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

  HeaderGuard(String address, PerAddress unfinished, int maxUnfinished, Duration timeout) {
    this.address = address;
    this.unfinished = unfinished;
    this.maxUnfinished = maxUnfinished;
    this.timeout = timeout;
  }

  @Override
  public FlowShape<ByteString, ByteString> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new Logic();
  }

  private final class Logic extends TimerGraphStageLogic {
    private boolean holdsSlot;
    private boolean headersIn;
    /** How many bytes of CR LF CR LF were matched at the end of what came so far. */
    private int matched;

    Logic() {
      super(shape);
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          ByteString bytes = grab(in);
          if (!headersIn) {
            scan(bytes);
          }
          push(out, bytes);
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
      if (!unfinished.tryAcquire(address, maxUnfinished)) {
        failStage(new IllegalStateException("too many unfinished requests from " + address));
        return;
      }
      holdsSlot = true;
      scheduleOnce(TIMEOUT, timeout);
    }

    private void scan(ByteString bytes) {
      for (int i = 0, n = bytes.size(); i < n; i++) {
        byte b = bytes.apply(i);
        matched = b == (matched % 2 == 0 ? '\r' : '\n') ? matched + 1 : (b == '\r' ? 1 : 0);
        if (matched == 4) {
          headersIn = true;
          cancelTimer(TIMEOUT);
          release();
          return;
        }
      }
    }

    @Override
    public void onTimer(Object key) {
      failStage(new TimeoutException("no whole request within " + timeout));
    }

    @Override
    public void postStop() {
      release();
    }

    private void release() {
      if (holdsSlot) {
        holdsSlot = false;
        unfinished.release(address);
      }
    }
  }
}

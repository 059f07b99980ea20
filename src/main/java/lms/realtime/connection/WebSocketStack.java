package lms.realtime.connection;

import java.util.concurrent.TimeUnit;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.event.Logging;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.impl.engine.ws.FrameEvent;
import org.apache.pekko.http.impl.engine.ws.FrameEvent$;
import org.apache.pekko.http.impl.engine.ws.FrameHandler;
import org.apache.pekko.http.impl.engine.ws.Protocol;
import org.apache.pekko.http.impl.engine.ws.UpgradeToWebSocketLowLevel;
import org.apache.pekko.http.impl.engine.ws.WebSocket$;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.ws.WebSocketUpgrade;
import org.apache.pekko.http.scaladsl.settings.ServerSettings;
import org.apache.pekko.http.scaladsl.settings.WebSocketSettings;
import org.apache.pekko.stream.Graph;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.scaladsl.BidiFlow;
import org.apache.pekko.stream.scaladsl.Flow;
import org.apache.pekko.stream.scaladsl.Source;
import org.apache.pekko.util.ByteString;
import scala.Option;
import scala.concurrent.duration.FiniteDuration;

/**
 * The one place that reaches into pekko-http's WebSocket internals, for two things its public
 * {@code Message} API cannot do:
 *
 * <ul>
 *   <li>close a socket with a code and reason of our own (4001, 4002, 4008, 4029, 1009, 1012…):
 *       pekko-http closes with 1000 or 1011 only (akka-http issue #2458, still open);
 *   <li>send a frame rendered once and shared by every receiver, instead of one UTF-8 encoding of
 *       the same text per socket.
 * </ul>
 *
 * The stack is pekko-http's own ({@code WebSocket.stack}: masking, frame handling, keep-alive,
 * message API) with one layer added between frame handling and the message API: it merges our
 * pre-rendered frames and, preferred, our close commands into what goes out. Incoming messages still
 * flow through pekko-http's message API untouched. Re-check this file on every pekko-http upgrade;
 * the socket tests fail loudly if it breaks.
 */
@SuppressWarnings({"unchecked", "rawtypes"})
public final class WebSocketStack {
  private static final FiniteDuration CLOSE_TIMEOUT = FiniteDuration.create(3, TimeUnit.SECONDS);

  private WebSocketStack() {}

  /** Read once per actor system: parsing server settings costs more than the rest of a handshake. */
  private static final class Shared {
    private static final java.util.Map<ActorSystem, Shared> BY_SYSTEM = new java.util.concurrent.ConcurrentHashMap<>();
    final WebSocketSettings settings;
    final LoggingAdapter log;

    private Shared(ActorSystem system) {
      this.settings = ((ServerSettings) ServerSettings.apply(system.settings().config())).websocketSettings();
      this.log = Logging.getLogger(system, WebSocketStack.class);
    }

    static Shared of(ActorSystem system) {
      return BY_SYSTEM.computeIfAbsent(system, s -> {
        s.registerOnTermination(() -> BY_SYSTEM.remove(s));
        return new Shared(s);
      });
    }
  }

  /** A complete text frame, to be shared by every socket it goes to. */
  public static Object textFrame(String text) {
    return FrameEvent$.MODULE$.fullFrame(
        org.apache.pekko.http.impl.engine.ws.Protocol$Opcode$Text$.MODULE$, Option.empty(), ByteString.fromString(text), true, false, false, false);
  }

  /** The command that makes pekko-http send a close frame with this code and reason. */
  static Object closeCommand(int code, String reason) {
    return new FrameHandler.ActivelyCloseWithCode(Option.apply((Object) code), reason);
  }

  /**
   * Answers an upgrade with our stack.
   *
   * @param messages incoming messages (the outgoing side of this flow is never used for data)
   * @param frames frames to send, from {@link Outbox}
   * @param control close commands, preferred over frames
   */
  public static HttpResponse upgrade(
      ActorSystem system,
      WebSocketUpgrade upgrade,
      Flow messages,
      Source frames,
      Source control,
      SharedKillSwitch killSwitch) {
    Shared shared = Shared.of(system);
    WebSocketSettings settings = shared.settings;
    LoggingAdapter log = shared.log;
    WebSocket$ ws = WebSocket$.MODULE$;

    BidiFlow abort = BidiFlow.fromFlows(Flow.apply().via(killSwitch.flow()), Flow.apply().via(killSwitch.flow()));
    BidiFlow inject =
        BidiFlow.fromFlows(
            Flow.apply(),
            (Graph) Flow.apply().merge(frames, false).mergePreferred(control, true, false));
    BidiFlow stack =
        abort
            .atop(ws.masking(true, settings.randomFactory()))
            .atop(ws.frameHandling(true, CLOSE_TIMEOUT, log))
            .atop(ws.periodicKeepAlive(settings))
            .atop(inject)
            .atop(ws.messageAPI(true, CLOSE_TIMEOUT));
    Flow<FrameEvent, FrameEvent, NotUsed> handler = (Flow) stack.join(messages);
    return ((UpgradeToWebSocketLowLevel) upgrade).handleFrames((Graph) handler, Option.empty());
  }
}

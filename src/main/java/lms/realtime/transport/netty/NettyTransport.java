package lms.realtime.transport.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.concurrent.EventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import lms.realtime.config.Settings;
import lms.realtime.fanout.Frame;
import lms.realtime.http.FallbackRoutes;
import lms.realtime.http.Responses;
import lms.realtime.http.Routes;
import lms.realtime.protocol.ErrorCodes;
import lms.realtime.protocol.Json;
import lms.realtime.session.Handshake;
import lms.realtime.session.NodeContext;
import lms.realtime.session.PerAddress;
import lms.realtime.transport.Transport;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.japi.function.Function;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SystemMaterializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The netty transport ({@code lms.transport = netty}): Netty's event loops own the one public port.
 * {@code GET /ws} is decided by the shared {@link Handshake} and upgraded with Netty's own WebSocket
 * codec ({@link NettyHttp}, {@link NettyUpgrade}); every socket is then written by the loop that owns
 * its channel ({@link NettySocket}, {@link LoopDrainer}). Every other request goes to the same
 * pekko-http routes as on the pekko-http transport, called as a function ({@link RouteBridge}). The
 * native epoll transport is used where it loads, NIO otherwise.
 */
public final class NettyTransport implements Transport {
  private static final Logger log = LoggerFactory.getLogger(NettyTransport.class);
  /**
   * Bounds of the HTTP decoder: a request line long enough for a query token of
   * lms.jwt.max-token-bytes (the handshake refuses a longer one with 401, not 414), headers of 8 KiB.
   */
  private static final int MAX_REQUEST_LINE = 16 * 1024;
  private static final int MAX_HEADERS = 8 * 1024;
  private static final int MAX_CHUNK = 8 * 1024;
  /** The HTTP codec's name in a connection's pipeline (an event stream removes it after its head). */
  static final String HTTP_CODEC = "http";

  final NodeContext node;
  final Settings settings;
  final Handshake handshake;
  final Function<HttpRequest, CompletionStage<HttpResponse>> routes;
  final Materializer materializer;
  final WebSocketDecoderConfig decoderConfig;
  private final NettyUpgrade upgrade;
  private final RouteBridge bridge;
  private final NettyFallback fallback;
  final BackendWrites backendWrites;
  private final AtomicInteger connections = new AtomicInteger();
  private final PerAddress unfinished = new PerAddress();
  private final boolean epoll;
  private final EventLoopGroup group;
  private final Map<EventExecutor, LoopDrainer> drainers = new IdentityHashMap<>();
  private final Map<EventExecutor, LoopStreams> streams = new IdentityHashMap<>();

  static {
    // Netty samples one buffer in 128 with a stack trace to find leaks: a real cost on every
    // socket's writes (seen in the idle profile). Off unless asked for (-Dio.netty.leakDetection.level,
    // as the tests do).
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
  }

  public NettyTransport(NodeContext node, AtomicBoolean ready) {
    this.node = node;
    this.settings = node.settings();
    this.handshake = new Handshake(node);
    // GET /ws never reaches the routes here (NettyHttp answers it); the route only keeps 405 for
    // other methods on /ws, as on the pekko-http transport.
    Routes routes = new Routes(node, ready, Directives.complete(
        Responses.refused(new Handshake.Refused(400, Json.errorBody(ErrorCodes.BAD_REQUEST, "not a WebSocket upgrade"), 0))),
        new NotRouted());
    this.routes = routes.route().seal().handler(node.system());
    this.backendWrites = new BackendWrites(routes.serviceAuth(), routes.publishing());
    this.materializer = SystemMaterializer.get(node.system()).materializer();
    this.decoderConfig = WebSocketDecoderConfig.newBuilder()
        .maxFramePayloadLength(settings.limits().maxFrameBytes())
        .expectMaskedFrames(true)
        .allowMaskMismatch(false)
        .allowExtensions(false)
        .closeOnProtocolViolation(false) // the socket's Connection closes, with the code Netty found
        .withUTF8Validator(true)
        .build();
    this.upgrade = new NettyUpgrade(this);
    this.bridge = new RouteBridge(this);
    this.fallback = new NettyFallback(this);
    this.epoll = settings.netty().epoll() && Epoll.isAvailable();
    IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    int threads = settings.netty().eventLoops() > 0 ? settings.netty().eventLoops() : Runtime.getRuntime().availableProcessors();
    this.group = new MultiThreadIoEventLoopGroup(threads, io);
    for (EventExecutor loop : group) {
      drainers.put(loop, new LoopDrainer((EventLoop) loop, node.metrics(), Frame::wire));
      streams.put(loop, new LoopStreams((EventLoop) loop, node.metrics(), settings.fallback().keepAlive()));
    }
    // a node that stops for any reason takes its loops with it
    node.system().getWhenTerminated().thenRun(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS));
  }

  /** The drainer of a loop's WebSockets. */
  LoopDrainer socketDrainerOf(EventLoop loop) {
    return drainers.get(loop);
  }

  /** A loop's event streams (the HTTP fallback's). */
  LoopStreams streamsOf(EventLoop loop) {
    return streams.get(loop);
  }

  @Override
  public CompletionStage<Binding> bind() {
    Class<? extends ServerChannel> channel = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channel(channel)
        .option(ChannelOption.SO_BACKLOG, settings.http().backlog())
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
            new WriteBufferWaterMark(settings.netty().writeBufferLow(), settings.netty().writeBufferHigh()))
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            accepted(ch);
          }
        });
    CompletableFuture<Binding> bound = new CompletableFuture<>();
    bootstrap.bind(settings.http().host(), settings.http().port()).addListener(f -> {
      if (f.isSuccess()) {
        Channel server = ((io.netty.channel.ChannelFuture) f).channel();
        log.info("netty transport on {} with {} {} event loops", server.localAddress(), drainers.size(), epoll ? "epoll" : "NIO");
        bound.complete(new NettyBinding(server));
      } else {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        bound.completeExceptionally(f.cause());
      }
    });
    return bound;
  }

  /** A new connection: closed at once past lms.http.max-connections, else given the HTTP pipeline. */
  private void accepted(SocketChannel ch) {
    if (connections.incrementAndGet() > settings.http().maxConnections()) {
      connections.decrementAndGet();
      ch.close();
      return;
    }
    ch.closeFuture().addListener(f -> connections.decrementAndGet());
    Settings.Http http = settings.http();
    ch.pipeline()
        .addLast(HeaderDeadline.NAME, new HeaderDeadline(http.headerTimeout().toNanos(), unfinished, http.maxUnfinishedPerIp()))
        .addLast(NettyHttp.IDLE, new IdleStateHandler(0, 0, http.idleTimeout().toMillis(), TimeUnit.MILLISECONDS))
        .addLast(HTTP_CODEC, new HttpServerCodec(MAX_REQUEST_LINE, MAX_HEADERS, MAX_CHUNK))
        .addLast(BodyLimit.NAME, new BodyLimit(http.maxBodyBytes(), http.maxBatchBytes(), settings.fallback().maxPostBytes()))
        .addLast(NettyHttp.NAME, new NettyHttp(upgrade, fallback, bridge, backendWrites));
  }

  /**
   * The fallback's places in the routes: {@link NettyFallback} answers those requests before the
   * routes (as {@code GET /ws}), so these are never reached.
   */
  private static final class NotRouted implements FallbackRoutes {
    private static Route unreachable() {
      return Directives.complete(Responses.refused(new Handshake.Refused(500, Json.errorBody(ErrorCodes.INTERNAL, "not routed on netty"), 0)));
    }

    @Override
    public Route open(Optional<String> mode) {
      return unreachable();
    }

    @Override
    public Route post(String connectionId) {
      return unreachable();
    }

    @Override
    public Route poll(String connectionId, Optional<String> key, Optional<String> from) {
      return unreachable();
    }

    @Override
    public Route preflight() {
      return unreachable();
    }
  }

  private final class NettyBinding implements Binding {
    private final Channel server;

    NettyBinding(Channel server) {
      this.server = server;
    }

    @Override
    public InetSocketAddress localAddress() {
      return (InetSocketAddress) server.localAddress();
    }

    @Override
    public CompletionStage<Void> unbind() {
      CompletableFuture<Void> done = new CompletableFuture<>();
      server.close().addListener(f -> done.complete(null));
      return done;
    }

    /** Shutting the loops down closes every channel still registered with them. */
    @Override
    public CompletionStage<Void> terminate(Duration deadline) {
      CompletableFuture<Void> done = new CompletableFuture<>();
      group.shutdownGracefully(0, Math.max(1, deadline.toMillis()), TimeUnit.MILLISECONDS).addListener(f -> done.complete(null));
      return done;
    }
  }
}

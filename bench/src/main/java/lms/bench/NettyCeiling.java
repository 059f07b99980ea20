package lms.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.concurrent.EventExecutor;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The ceiling of the fan-out benchmark: the least a WebSocket broadcast server can do on the JVM with
 * Netty NIO (issue 7 asks the engine for at least half of its deliveries per second).
 *
 * <ul>
 *   <li>{@code GET /ws[?...]}: a WebSocket; every socket that completes the handshake is a member.
 *   <li>{@code POST /publish}: the body (the JSON the driver sends, unchanged) becomes one text frame,
 *       encoded once into a single buffer (frame header and payload); each event loop gets one task that
 *       writes a {@code retainedDuplicate()} of it to each of its own members and flushes. No per-member
 *       encoding, no cross-thread write per member, no queue bound (a slow reader just buffers). This is
 *       the same kind of call as the engine's backend API ({@code POST /api/v1/rooms/{room}/events}),
 *       minus the JWT check, the JSON parse and the room bookkeeping.
 *   <li>{@code POST /publish} without a query, body {@code {"room":..,"event":..,"data":..}} (issue 23's
 *       publish scenario, rooms without members): the body is parsed with Jackson's streaming parser (every
 *       token read, so malformed JSON is a 400), its {@code room} and {@code event} taken, and 202
 *       {@code {"room":..}} answered; nothing is broadcast (the ceiling has no rooms). The floor of a publish
 *       call: HTTP and a JSON parse, no token, no room.
 *   <li>{@code GET /health}: {@code {"members":N}}.
 * </ul>
 *
 * <pre>java -cp bench/target/lms-bench.jar lms.bench.NettyCeiling --port 18182 [--threads 2] [--host 127.0.0.1]</pre>
 */
public final class NettyCeiling {

  private final AtomicInteger members = new AtomicInteger();
  private final AtomicLong published = new AtomicLong();
  /** Members of each event loop; each list is touched only by its own loop's thread. */
  private final Map<EventExecutor, List<Channel>> membersByLoop = new IdentityHashMap<>();

  public static void main(String[] args) throws Exception {
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      System.setProperty("io.netty.leakDetection.level", "disabled");
    }
    String host = "127.0.0.1";
    int port = 18182;
    int threads = Runtime.getRuntime().availableProcessors();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--host" -> host = args[++i];
        case "--port" -> port = Integer.parseInt(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        default -> {
          System.err.println("usage: NettyCeiling [--host 127.0.0.1] [--port 18182] [--threads N]");
          System.exit(64);
        }
      }
    }
    new NettyCeiling().run(host, port, threads);
  }

  void run(String host, int port, int threads) throws InterruptedException {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
    for (EventExecutor loop : group) {
      membersByLoop.put(loop, new ArrayList<>());
    }
    WebSocketServerProtocolConfig ws = WebSocketServerProtocolConfig.newBuilder()
        .websocketPath("/ws")
        .checkStartsWith(true)
        .allowExtensions(false)
        .maxFramePayloadLength(1 << 20)
        .handleCloseFrames(true)
        .dropPongFrames(true)
        .build();
    ServerBootstrap b = new ServerBootstrap()
        .group(group) // the acceptor is one of the same loops: the ceiling uses `threads` threads in all
        .channel(NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 4096)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(
                new HttpServerCodec(),
                new HttpObjectAggregator(1 << 20),
                new WebSocketServerProtocolHandler(ws),
                new Handler());
          }
        });
    Channel server = b.bind(host, port).sync().channel();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close().awaitUninterruptibly(2000);
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly(3000);
    }));
    System.out.printf("netty ceiling listening on %s:%d with %d NIO event loops%n", host, port, threads);
    server.closeFuture().sync();
  }

  /** One pre-encoded unmasked text frame: FIN + opcode 1, the length, the payload. */
  static ByteBuf encodeTextFrame(ByteBufAllocator alloc, ByteBuf payload) {
    int n = payload.readableBytes();
    int header = n < 126 ? 2 : n < 65536 ? 4 : 10;
    ByteBuf frame = alloc.directBuffer(header + n);
    frame.writeByte(0x81);
    if (n < 126) {
      frame.writeByte(n);
    } else if (n < 65536) {
      frame.writeByte(126);
      frame.writeShort(n);
    } else {
      frame.writeByte(127);
      frame.writeLong(n);
    }
    frame.writeBytes(payload, payload.readerIndex(), n);
    return frame;
  }

  static final com.fasterxml.jackson.core.JsonFactory JSON = new com.fasterxml.jackson.core.JsonFactory();

  /** The top-level {@code room} of a JSON object with a string {@code event}, every token read; null if not so. */
  static String roomOf(ByteBuf body) {
    try (com.fasterxml.jackson.core.JsonParser p = JSON.createParser((java.io.InputStream) new io.netty.buffer.ByteBufInputStream(body.duplicate()))) {
      if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
        return null;
      }
      String room = null;
      String event = null;
      com.fasterxml.jackson.core.JsonToken t;
      while ((t = p.nextToken()) == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
        String name = p.currentName();
        t = p.nextToken();
        if (name.equals("room") && t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING) {
          room = p.getText();
        } else if (name.equals("event") && t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING) {
          event = p.getText();
        } else {
          p.skipChildren(); // data: read through, not kept
        }
      }
      return t == com.fasterxml.jackson.core.JsonToken.END_OBJECT && p.nextToken() == null && event != null ? room : null;
    } catch (java.io.IOException | RuntimeException e) {
      return null;
    }
  }

  void broadcast(ByteBuf frame) {
    published.incrementAndGet();
    for (Map.Entry<EventExecutor, List<Channel>> e : membersByLoop.entrySet()) {
      List<Channel> list = e.getValue();
      ByteBuf mine = frame.retainedDuplicate();
      e.getKey().execute(() -> {
        try {
          for (int i = 0, n = list.size(); i < n; i++) {
            Channel ch = list.get(i);
            // a ByteBuf passes the WebSocket encoder untouched: it is already a frame
            ch.writeAndFlush(mine.retainedDuplicate(), ch.voidPromise());
          }
        } finally {
          mine.release();
        }
      });
    }
    frame.release();
  }

  final class Handler extends SimpleChannelInboundHandler<Object> {
    private boolean member;

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt instanceof WebSocketServerProtocolHandler.HandshakeComplete) {
        member = true;
        membersByLoop.get(ctx.channel().eventLoop()).add(ctx.channel());
        members.incrementAndGet();
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      if (member) {
        member = false;
        EventLoop loop = ctx.channel().eventLoop();
        membersByLoop.get(loop).remove(ctx.channel());
        members.decrementAndGet();
      }
      super.channelInactive(ctx);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof WebSocketFrame) {
        return; // members have nothing to say; released by SimpleChannelInboundHandler
      }
      if (!(msg instanceof FullHttpRequest req)) {
        return;
      }
      String path = req.uri();
      int q = path.indexOf('?');
      if (q >= 0) {
        path = path.substring(0, q);
      }
      // the fan-out publishes to /publish?room=r: that form broadcasts, the bare /publish parses (issue 23)
      if (req.method().equals(HttpMethod.POST) && path.equals("/publish") && q < 0) {
        String room = roomOf(req.content());
        if (room == null) {
          respond(ctx, req, HttpResponseStatus.BAD_REQUEST, "{\"error\":\"bad_request\"}");
        } else {
          published.incrementAndGet();
          respond(ctx, req, HttpResponseStatus.ACCEPTED, "{\"room\":\"" + room + "\"}");
        }
      } else if (req.method().equals(HttpMethod.POST) && path.equals("/publish")) {
        broadcast(encodeTextFrame(ctx.alloc(), req.content()));
        respond(ctx, req, HttpResponseStatus.ACCEPTED, "{\"members\":" + members.get() + "}");
      } else if (req.method().equals(HttpMethod.GET) && path.equals("/health")) {
        respond(ctx, req, HttpResponseStatus.OK,
            "{\"members\":" + members.get() + ",\"published\":" + published.get() + "}");
      } else {
        respond(ctx, req, HttpResponseStatus.NOT_FOUND, "{\"error\":\"not_found\"}");
      }
    }

    private void respond(ChannelHandlerContext ctx, FullHttpRequest req, HttpResponseStatus status, String json) {
      FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.copiedBuffer(json, StandardCharsets.UTF_8));
      res.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
      HttpUtil.setContentLength(res, res.content().readableBytes());
      boolean keepAlive = HttpUtil.isKeepAlive(req);
      HttpUtil.setKeepAlive(res, keepAlive);
      if (keepAlive) {
        ctx.writeAndFlush(res, ctx.voidPromise());
      } else {
        ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}

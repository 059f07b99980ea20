package lms.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A lean asynchronous HTTP/1.1 client for the publish scenarios (issue 23): one Netty event loop of its
 * own, at most {@code max} keep-alive connections to one server, one request in flight on each, the rest
 * waiting in a FIFO of at most {@code 16 x max}. A request is its bytes, encoded once by the caller
 * ({@link #post}); a scenario that repeats the same call (the saturation publish) writes the same buffer
 * again without encoding anything. Answers are read by Netty's {@link HttpResponseDecoder}: the status, and
 * the body when the call asks for it or the status is not 2xx. No aggregator, no request encoder: the driver's CPU per call is
 * part of what the 2 cores share with the server.
 *
 * <p>Every {@link Answer} runs on the pool's loop thread; a closed loop resubmits from there with
 * {@link #submitOnLoop}. A call not answered in 10 s, a refused connection or a connection closed before
 * the answer is answered with status -1 and the reason, never retried.
 */
final class HttpPool {

  static final long ANSWER_TIMEOUT_MS = 10_000;
  /** How the failure of a call that was never sent (the queue was full) begins. */
  static final String SKIPPED = "skipped: ";

  /** The end of one call: {@code status} -1 when it failed without an answer; {@code body} only if asked. */
  interface Answer {
    void done(Call call, int status, byte[] body, String failure);
  }

  /** One request: its bytes (never released: unpooled), the caller's stamp and tag, what to do with the answer. */
  static final class Call {
    final ByteBuf request;
    final long t;
    final Object tag;
    final boolean keepBody;
    final Answer answer;

    Call(ByteBuf request, long t, Object tag, boolean keepBody, Answer answer) {
      this.request = request;
      this.t = t;
      this.tag = tag;
      this.keepBody = keepBody;
      this.answer = answer;
    }
  }

  final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  final EventLoop loop = group.next();
  final String host;
  final int port;
  final int max;
  final int maxQueue;
  final Bootstrap bootstrap;
  final ArrayDeque<Conn> idle = new ArrayDeque<>();
  final List<Conn> all = new ArrayList<>();
  final ArrayDeque<Call> queue = new ArrayDeque<>();
  final AtomicInteger outstanding = new AtomicInteger(); // submitted, not answered yet
  final AtomicInteger opened = new AtomicInteger();
  final AtomicLong queued = new AtomicLong(); // calls that found every connection busy and waited
  volatile int queueMax;
  int connecting;

  HttpPool(String host, int port, int max) {
    this(host, port, max, 16 * max);
  }

  /** With a queue of its own bound ({@link SseMember}'s: a frame per member may wait, the hold's last ping all at once). */
  HttpPool(String host, int port, int max, int maxQueue) {
    this.host = host;
    this.port = port;
    this.max = max;
    this.maxQueue = maxQueue;
    this.bootstrap = new Bootstrap().group(loop).channel(NioSocketChannel.class)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5_000)
        .handler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(new HttpResponseDecoder(), new Conn());
          }
        });
  }

  /** {@code POST path} with a JSON body and a bearer token (null: none), as one buffer. */
  static ByteBuf post(String host, int port, String bearer, String path, byte[] body) {
    byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
        + "\r\nContent-Type: application/json\r\n" + (bearer == null ? "" : "Authorization: Bearer " + bearer + "\r\n")
        + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    ByteBuf b = Unpooled.buffer(head.length + body.length);
    b.writeBytes(head).writeBytes(body);
    return b;
  }

  /** One call, waited for (at most the answer timeout and 5 s): its status, -1 when it failed without one. */
  int statusOf(String bearer, String path, byte[] body) throws Exception {
    CompletableFuture<Integer> f = new CompletableFuture<>();
    submit(new Call(post(host, port, bearer, path, body), System.nanoTime(), null, false, (c, s, b, w) -> f.complete(s)));
    return f.get(ANSWER_TIMEOUT_MS + 5_000, TimeUnit.MILLISECONDS);
  }

  /** From any thread. */
  void submit(Call call) {
    outstanding.incrementAndGet();
    loop.execute(() -> enqueue(call));
  }

  /** On the loop's thread only (from an {@link Answer}): no task hop. */
  void submitOnLoop(Call call) {
    outstanding.incrementAndGet();
    enqueue(call);
  }

  private void enqueue(Call call) {
    if (queue.size() >= maxQueue) {
      finish(call, -1, null, SKIPPED + maxQueue + " calls already waiting");
      return;
    }
    if (idle.isEmpty()) {
      queued.incrementAndGet();
    }
    queue.add(call);
    queueMax = Math.max(queueMax, queue.size());
    dispatch();
  }

  /** On the loop: hand waiting calls to idle connections; open connections up to max while some wait. */
  void dispatch() {
    while (!queue.isEmpty() && !idle.isEmpty()) {
      idle.poll().send(queue.poll());
    }
    while (queue.size() > connecting && all.size() + connecting < max) {
      connecting++;
      bootstrap.connect(new InetSocketAddress(host, port)).addListener(f -> {
        connecting--;
        if (!f.isSuccess()) {
          Call c = queue.poll(); // the connection this call waited for did not come: failed, not retried
          if (c != null) {
            finish(c, -1, null, "connect: " + f.cause().getClass().getSimpleName() + ": " + f.cause().getMessage());
          }
          dispatch();
        }
      });
    }
  }

  private void finish(Call call, int status, byte[] body, String failure) {
    outstanding.decrementAndGet();
    call.answer.done(call, status, body, failure);
  }

  /** Waits until every submitted call was answered or failed; false at the timeout. */
  boolean awaitIdle(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    while (outstanding.get() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    return outstanding.get() == 0;
  }

  void close() {
    CompletableFuture<Void> f = new CompletableFuture<>();
    loop.execute(() -> {
      for (Conn c : new ArrayList<>(all)) {
        c.ch.close();
      }
      f.complete(null);
    });
    try {
      f.get(5, TimeUnit.SECONDS);
    } catch (Exception ignored) {
      // closing anyway
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }

  /** One keep-alive connection, one call at a time. */
  final class Conn extends ChannelInboundHandlerAdapter {
    Channel ch;
    Call current;
    int status;
    boolean keepAlive;
    ByteArrayOutputStream body;
    ScheduledFuture<?> timeout;

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
      ch = ctx.channel();
      all.add(this);
      opened.incrementAndGet();
      idle.add(this);
      dispatch();
      super.channelActive(ctx);
    }

    void send(Call call) {
      current = call;
      status = -1;
      body = null;
      timeout = loop.schedule(() -> {
        if (current == call) {
          current = null;
          finish(call, -1, null, "no answer in " + ANSWER_TIMEOUT_MS + " ms");
          ch.close();
        }
      }, ANSWER_TIMEOUT_MS, TimeUnit.MILLISECONDS);
      ch.writeAndFlush(call.request.retainedDuplicate(), ch.voidPromise());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof HttpResponse r) {
          status = r.status().code();
          keepAlive = HttpUtil.isKeepAlive(r);
          if (current != null && (current.keepBody || status / 100 != 2)) { // a failure's body says why
            body = new ByteArrayOutputStream(256);
          }
        }
        if (msg instanceof HttpContent c && body != null) {
          ByteBuf b = c.content();
          byte[] bytes = new byte[b.readableBytes()];
          b.getBytes(b.readerIndex(), bytes);
          body.writeBytes(bytes);
        }
        if (msg instanceof LastHttpContent) {
          Call call = current;
          if (call == null) {
            return; // answered after its timeout: already counted
          }
          current = null;
          timeout.cancel(false);
          byte[] b = body == null || !call.keepBody && status / 100 == 2 ? null : body.toByteArray();
          body = null;
          finish(call, status, b, status / 100 == 2 ? null
              : "HTTP " + status + (b == null ? "" : " " + abbreviate(new String(b, StandardCharsets.UTF_8))));
          if (keepAlive) {
            idle.add(this);
            dispatch();
          } else {
            ctx.close();
          }
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      all.remove(this);
      idle.remove(this);
      if (current != null) {
        Call call = current;
        current = null;
        if (timeout != null) {
          timeout.cancel(false);
        }
        finish(call, -1, null, "connection closed before the answer");
      }
      dispatch(); // others may wait: a new connection for them
      super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  static String abbreviate(String s) {
    return s.length() > 80 ? s.substring(0, 80) : s;
  }
}

package lms.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * An lms member on the HTTP fallback (issue 24, contract §10): {@code GET /sse?token=JWT}, the stream read as
 * it comes ({@code data: <frame>\n\n} events, {@code :} comment lines skipped), each frame handed to the
 * same code as a WebSocket member's text frame ({@link Driver.Member}: {@code welcome}, {@code joined}, the
 * timing path that finds {@code "t":} in the frame's bytes, no JSON parse). What a WebSocket member writes
 * on its socket (the join, its ping every 20 s, the hold's last ping) it POSTs to the welcome's
 * {@code postUrl} with {@code Authorization: Bearer <postToken>}, through one {@link HttpPool} of the
 * driver ({@link #POST_CONNECTIONS} keep-alive connections, shared by every member, as a proxy in front of
 * many browsers would): the server's memory per member is its stream's, not a second idle connection's.
 * The answers (joined, pong) come on the stream. A {@code close} event ends the member like a close frame.
 */
final class SseMember extends Driver.Member {

  /** The POST connections of the whole driver; the frames beyond them wait in the pool's queue. */
  static final int POST_CONNECTIONS = 32;
  static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
  static final byte[] CLOSE_PREFIX = "{\"type\":\"close\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] CODE_KEY = "\"code\":".getBytes(StandardCharsets.US_ASCII);
  static final byte[] POST_URL_KEY = "\"postUrl\":\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] POST_TOKEN_KEY = "\"postToken\":\"".getBytes(StandardCharsets.US_ASCII);

  final Driver d;
  String postUrl;
  String postToken;
  ByteBuf pending; // the bytes of an event not complete yet (null when none: an idle member holds no buffer)
  boolean streaming;
  boolean closed;

  SseMember(Driver d, long t0, URI uri, int index, int attempt) {
    d.super(t0, uri, index, attempt);
    this.d = d;
  }

  /** The stream's pipeline: Netty's HTTP client codec (the answer's head, then its body as it comes), the member. */
  static ChannelInitializer<SocketChannel> initializer(Supplier<ChannelHandler> member) {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(SocketChannel ch) {
        ch.pipeline().addLast(new HttpClientCodec(), member.get());
      }
    };
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    String path = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    DefaultFullHttpRequest get = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path, Unpooled.EMPTY_BUFFER);
    get.headers().set(HttpHeaderNames.HOST, uri.getHost() + ":" + Driver.port(uri))
        .set(HttpHeaderNames.ACCEPT, "text/event-stream");
    ctx.writeAndFlush(get, ctx.voidPromise());
    super.channelActive(ctx);
  }

  /** POSTs one frame to the connection's postUrl; a refusal counts as a failure (its answer comes on the stream). */
  @Override
  void send(Channel ch, String frame) {
    if (postUrl == null) {
      return;
    }
    byte[] body = frame.getBytes(StandardCharsets.UTF_8);
    d.sseFrames.submit(new HttpPool.Call(HttpPool.post(d.sseFrames.host, d.sseFrames.port, postToken, postUrl, body),
        System.nanoTime(), null, false, (call, status, b, why) -> {
          if (status / 100 != 2 && !d.stopping) {
            d.fail("sse post: " + (why == null ? "HTTP " + status : why));
          }
        }));
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (msg instanceof HttpResponse r) {
        int status = r.status().code();
        if (status != 200) {
          String why = "GET /sse: HTTP " + status + (status == 404 ? " (the server has no /sse)" : "");
          if (status == 404 || status == 401 || status == 403) { // no use trying again
            slotHeldFail(why);
          } else {
            giveUp(why);
          }
          ctx.close();
          return;
        }
        streaming = true;
        d.connected.incrementAndGet();
        state = OPENING;
      }
      if (msg instanceof HttpContent c && streaming) {
        read(ctx, c.content()); // the stream's end comes with its connection's (channelInactive)
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  /** Fails for good (no retry), the slot released. */
  void slotHeldFail(String why) {
    if (slotHeld) {
      d.fail(why);
      releaseSlot();
    }
  }

  /** Splits the stream's bytes into lines; each {@code data:} line is one frame. */
  void read(ChannelHandlerContext ctx, ByteBuf in) {
    ByteBuf b = in;
    if (pending != null) {
      pending.writeBytes(in);
      b = pending;
    }
    int end = b.writerIndex();
    int i = b.readerIndex();
    while (i < end) {
      int nl = b.indexOf(i, end, (byte) '\n');
      if (nl < 0) {
        break;
      }
      int lineEnd = nl > i && b.getByte(nl - 1) == '\r' ? nl - 1 : nl;
      if (lineEnd - i >= DATA.length && startsWith(b, i, DATA)) {
        int from = i + DATA.length;
        if (from < lineEnd && b.getByte(from) == ' ') {
          from++;
        }
        onFrame(ctx, b.slice(from, lineEnd - from));
        if (closed) { // a close event: nothing after it counts
          dropPending();
          return;
        }
      }
      i = nl + 1;
    }
    if (i < end) { // an event cut by the read: keep its bytes for the next one
      if (b == in) {
        pending = ctx.alloc().heapBuffer(Math.max(256, end - i));
        pending.writeBytes(in, i, end - i);
      } else {
        pending.readerIndex(i);
        pending.discardReadBytes();
      }
    } else {
      dropPending();
    }
  }

  void dropPending() {
    if (pending != null) {
      pending.release();
      pending = null;
    }
  }

  void onFrame(ChannelHandlerContext ctx, ByteBuf frame) {
    if (startsWith(frame, frame.readerIndex(), CLOSE_PREFIX)) { // the stream's last event: a close frame's
      int j = Driver.after(frame, CODE_KEY);
      int code = j < 0 ? -1 : (int) Driver.digits(frame, j);
      d.closeCodes.computeIfAbsent(code, x -> new LongAdder()).increment();
      if (!d.stopping && d.closeCodes.size() < 20) {
        System.err.printf("driver: sse close %s%n", frame.toString(StandardCharsets.UTF_8));
      }
      closed = true;
      ctx.close();
      return;
    }
    if (state == JOINED) {
      onJoinedFrame(ctx, frame);
      return;
    }
    if (state == OPENING && postUrl == null && Driver.contains(frame, Driver.WELCOME_TYPE)) {
      postUrl = string(frame, POST_URL_KEY);
      postToken = string(frame, POST_TOKEN_KEY);
      if (postUrl == null || postToken == null) {
        slotHeldFail("sse welcome without postUrl / postToken: " + frame.toString(StandardCharsets.UTF_8));
        ctx.close();
        return;
      }
    }
    onSetupFrame(ctx, frame);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    dropPending();
    super.channelInactive(ctx);
  }

  /** The JSON string after {@code key} (which ends with its opening quote), up to the closing quote; no escapes expected. */
  static String string(ByteBuf b, byte[] key) {
    int from = Driver.after(b, key);
    if (from < 0) {
      return null;
    }
    int to = b.indexOf(from, b.writerIndex(), (byte) '"');
    return to < 0 ? null : b.toString(from, to - from, StandardCharsets.UTF_8);
  }

  static boolean startsWith(ByteBuf b, int at, byte[] prefix) {
    if (b.writerIndex() - at < prefix.length) {
      return false;
    }
    for (int k = 0; k < prefix.length; k++) {
      if (b.getByte(at + k) != prefix[k]) {
        return false;
      }
    }
    return true;
  }
}

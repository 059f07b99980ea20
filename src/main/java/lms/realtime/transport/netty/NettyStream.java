package lms.realtime.transport.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import lms.realtime.fanout.Frame;
import lms.realtime.fanout.MemberInbox;
import lms.realtime.session.Connection;
import lms.realtime.session.Handshake;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One event stream of the HTTP fallback on the netty transport ({@code GET /sse}, contract §10): a
 * connection's outbox ({@link LoopOutbox}: writes on the channel's loop, the backlog, 4008) whose
 * bytes are Server-Sent Events, one per frame ({@link Frame#sse}, rendered once per node). The
 * answer has no length and no chunking: the stream's end is the TCP connection's end (so proxies
 * that speak HTTP/1.0 upstream, as nginx does by default, carry it too). Its last event is the
 * close ({@code {"type":"close",...}}), then TCP's FIN. Its keep-alive is its loop's
 * ({@link LoopStreams}); the client says nothing on it (its frames come as POSTs), so what it sends
 * is dropped, and only its end is heard.
 */
final class NettyStream extends LoopOutbox {
  static final String NAME = "stream";
  private static final byte[] COMMENT = ":\n\n".getBytes(StandardCharsets.US_ASCII);

  private final LoopStreams streams;
  private volatile ActorRef<MemberInbox> connection;

  NettyStream(NettyTransport transport, Channel channel) {
    this(transport, channel, transport.streamsOf(channel.eventLoop()));
  }

  private NettyStream(NettyTransport transport, Channel channel, LoopStreams streams) {
    super(transport.settings, transport.node.metrics(), channel, streams.drainer);
    this.streams = streams;
  }

  @Override
  public String kind() {
    return Handshake.Kind.SSE.label();
  }

  @Override
  protected byte[] bytes(Frame frame) {
    return frame.sse();
  }

  /** The admitted connection's actor; it hears when the channel is gone, whenever that happens. On the loop. */
  void bind(ActorRef<MemberInbox> connection) {
    this.connection = connection;
    channel.closeFuture().addListener(f -> {
      gone = true;
      streams.remove(this);
      connection.tell(Connection.SocketClosed.INSTANCE);
    });
  }

  /**
   * The stream's head goes out; the HTTP handlers make way for the stream's own reader, and the
   * welcome and what waited follow. On the loop.
   */
  void start(ChannelHandlerContext ctx, HttpResponse head) {
    ctx.write(head, ctx.voidPromise()); // through the HTTP encoder, which then goes
    ChannelPipeline p = ctx.pipeline();
    p.replace(NettyHttp.NAME, NAME, new Reader());
    p.remove(NettyHttp.IDLE);
    p.remove(HeaderDeadline.NAME);
    p.remove(BodyLimit.NAME);
    p.remove(NettyTransport.HTTP_CODEC);
    channel.config().setAutoRead(true);
    streams.add(this);
    connection.tell(new Connection.SocketOpened(() -> {}));
    attach();
  }

  @Override
  protected void writeClose() {
    if (closeSent || gone) {
      return;
    }
    closeSent = true;
    dropBacklog();
    // behind what the kernel holds already; a reader that never takes it is dropped at the close grace
    channel.writeAndFlush(Unpooled.wrappedBuffer(pendingClose.sse())).addListener(ChannelFutureListener.CLOSE);
  }

  @Override
  public void complete() {
    onLoop(() -> {
      finished = true;
      dropBacklog();
      if (connection == null) {
        return; // never admitted: the HTTP connection goes on with the refusal's answer
      }
      if (attached && pendingClose != null && !closeSent) {
        writeClose();
      } else if (!closeSent) {
        channel.close();
      }
    });
  }

  /** A comment line, unless the stream is closing or its reader is behind anyway. On the loop. */
  void keepAlive() {
    if (attached && !closeSent && !gone && !backedUp()) {
      channel.writeAndFlush(Unpooled.wrappedBuffer(COMMENT), channel.voidPromise());
    }
  }

  /** The stream's reading side: nothing the client sends on it means anything; its end does. */
  private final class Reader extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ReferenceCountUtil.release(msg);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (channel.isWritable()) {
        drainBacklog();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close(); // the peer reset the connection, or worse
    }
  }
}

package lms.realtime.transport.netty;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletionStage;
import lms.realtime.http.ApiError;
import lms.realtime.http.Publishing;
import lms.realtime.http.ServiceAuth;

/**
 * The backend's writes on the netty transport (contract §6 and §10: an event, a notification, a
 * batch), answered without the pekko-http route: the same {@link ServiceAuth} and
 * {@link Publishing} the route calls, on the bytes Netty has already parsed. They are most of a
 * platform's traffic, and the route's work (a pekko-http request built from Netty's, its
 * directives, the strict response turned back) was a third of each call's CPU. Only plain paths are
 * taken here; one with percent-escapes or a query goes to the routes, which decode it.
 */
final class BackendWrites {
  private static final String ROOMS = "/api/v1/rooms/";
  private static final String USERS = "/api/v1/users/";
  private static final String EVENTS = "/events";
  private static final String NOTIFICATIONS = "/notifications";

  private final ServiceAuth auth;
  private final Publishing publishing;

  BackendWrites(ServiceAuth auth, Publishing publishing) {
    this.auth = auth;
    this.publishing = publishing;
  }

  /**
   * Answers a backend write (true), or leaves the request to the routes (false); {@code uri} is the
   * request's path and query, from its checked request line ({@link RequestTarget}). On the channel's loop.
   */
  boolean answer(ChannelHandlerContext ctx, FullHttpRequest request, String uri, NettyHttp.Answer answer) {
    if (!request.method().equals(HttpMethod.POST)) {
      return false;
    }
    if (uri.indexOf('%') >= 0 || uri.indexOf('?') >= 0) {
      return false;
    }
    int kind;
    String name = null;
    if (uri.equals(BodyLimit.BATCH)) {
      kind = 0;
    } else if ((name = segment(uri, ROOMS, EVENTS)) != null) {
      kind = 1;
    } else if ((name = segment(uri, USERS, NOTIFICATIONS)) != null) {
      kind = 2;
    } else {
      return false;
    }
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    ApiError refused = auth.refusal(request.headers().get(HttpHeaderNames.AUTHORIZATION));
    if (refused != null) {
      request.release();
      answer.send(keepAlive, json(Publishing.Result.of(refused)));
      return true;
    }
    String body = request.content().toString(StandardCharsets.UTF_8);
    request.release();
    CompletionStage<Publishing.Result> result = switch (kind) {
      case 0 -> publishing.batch(body);
      case 1 -> publishing.event(name, body);
      default -> publishing.notification(name, body);
    };
    result.whenComplete((r, failure) -> {
      Publishing.Result out = failure == null ? r : Publishing.Result.of(publishing.failed(failure));
      if (ctx.executor().inEventLoop()) {
        answer.send(keepAlive, json(out));
      } else {
        ctx.executor().execute(() -> answer.send(keepAlive, json(out)));
      }
    });
    return true;
  }

  /** The one path segment between {@code prefix} and {@code suffix}, or null when the path is not of that shape. */
  private static String segment(String uri, String prefix, String suffix) {
    if (!uri.startsWith(prefix) || !uri.endsWith(suffix) || uri.length() <= prefix.length() + suffix.length()) {
      return null;
    }
    String name = uri.substring(prefix.length(), uri.length() - suffix.length());
    return name.indexOf('/') < 0 ? name : null;
  }

  private static io.netty.handler.codec.http.FullHttpResponse json(Publishing.Result r) {
    return Answers.json(HttpResponseStatus.valueOf(r.status()), r.body());
  }
}

package lms.realtime.http;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import lms.realtime.room.Room;
import lms.realtime.session.NodeContext;
import org.apache.pekko.http.javadsl.model.Query;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Rejections;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The query of a read of a stream (a room's recent events, a user's inbox): {@code since} and
 * {@code limit}, read by pekko-http's parameter directives through the unmarshallers below. A value
 * they refuse is a {@code MalformedQueryParamRejection} with the message of the contract's 400, which
 * {@link BackendApi}'s rejection handler renders; a parameter given twice is refused the same way
 * ({@link #once}: two positions, or two limits, are no answer to choose between).
 */
final class StreamQuery extends AllDirectives {
  /** The most events one read of a room's stream answers, and the default. */
  static final int MAX_READ = 1000;
  static final int DEFAULT_READ = 100;

  static final String SINCE_MESSAGE = "'since' is EPOCH:SEQ, as the stream's frames give them";
  static final String LIMIT_MESSAGE = "'limit' is a whole number from 1 to " + MAX_READ;

  /** A stream position {@code EPOCH:SEQ} as the frames give them (the epoch may hold colons: the last one splits). */
  record Since(String epoch, long seq) {}

  /**
   * {@code EPOCH:SEQ}, SEQ a whole number from 0. Written here rather than composed from
   * {@code StringUnmarshallers.LONG}: that one reads an empty value as absent and words its own message.
   */
  static final Unmarshaller<String, Since> SINCE = Unmarshaller.sync(text -> {
    int colon = text.lastIndexOf(':');
    long seq = colon <= 0 ? -1 : wholeNumber(text.substring(colon + 1));
    if (seq < 0) {
      throw new IllegalArgumentException(SINCE_MESSAGE);
    }
    return new Since(text.substring(0, colon), seq);
  });

  /** 1 to {@link #MAX_READ}; as {@link #SINCE}, an empty value is a bad one, not an absent one. */
  static final Unmarshaller<String, Integer> LIMIT = Unmarshaller.sync(text -> {
    long limit = wholeNumber(text);
    if (limit < 1 || limit > MAX_READ) {
      throw new IllegalArgumentException(LIMIT_MESSAGE);
    }
    return (int) limit;
  });

  private static long wholeNumber(String text) {
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException ex) {
      return -1;
    }
  }

  /**
   * {@code inner}, unless one of {@code names} is given more than once: then the rejection the
   * unmarshallers' refusals are (pekko's parameter directives would take the first value silently).
   * A query pekko cannot read is left to the parameter directives, which reject it themselves.
   */
  Route once(List<String> names, Supplier<Route> inner) {
    return extractUri(uri -> {
      Query query;
      try {
        query = uri.query();
      } catch (RuntimeException unreadable) {
        return inner.get();
      }
      for (String name : names) {
        if (query.getAll(name).size() > 1) {
          return reject(Rejections.malformedQueryParam(name, "'" + name + "' is given once"));
        }
      }
      return inner.get();
    });
  }

  /** What a room's stream holds after {@code since} (or all it keeps), as the room answers it. */
  static CompletionStage<Room.StreamRead> read(NodeContext node, String room, Optional<Since> since) {
    String epoch = since.map(Since::epoch).orElse(null);
    long seq = since.map(Since::seq).orElse(0L);
    return node.sharding().entityRefFor(Room.KEY, room)
        .<Room.StreamRead>ask(replyTo -> new Room.ReadStream(epoch, seq, replyTo), node.settings().http().askTimeout());
  }
}

package lms.realtime.transport.fallback;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import lms.realtime.config.Settings;
import lms.realtime.protocol.Json;
import lms.realtime.session.Incoming;

/**
 * The body of a fallback POST (contract §10) as the frames a socket would have sent: one JSON frame,
 * or a JSON array of frames, each taken as the exact text it has in the body (the connection's
 * actor parses it as a socket's). A body that is not a well-formed array is one frame, whatever it
 * is: the actor answers it as a socket's malformed frame ({@code bad_request}), and nothing of a
 * broken array is applied. A frame over {@code lms.limits.max-frame-bytes} ends the body there: the
 * frames before it are applied, then the connection closes with 1009, as a socket's would.
 */
final class PostBody {
  private final JsonFactory factory;
  private final int maxFrameBytes;

  PostBody(Settings settings) {
    // the array adds one level; the document is the whole body
    this.factory = JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder()
            .maxNestingDepth(settings.limits().jsonMaxDepth() + 1)
            .maxStringLength(settings.limits().jsonMaxStringLength())
            .maxNumberLength(settings.limits().jsonMaxNumberLength())
            .maxDocumentLength(Math.max(settings.fallback().maxPostBytes(), settings.limits().maxFrameBytes()) * 2L)
            .build())
        .build();
    this.maxFrameBytes = settings.limits().maxFrameBytes();
  }

  Incoming.Posted read(String body) {
    String trimmed = body.strip();
    if (trimmed.startsWith("[")) {
      List<String> frames = new ArrayList<>();
      try {
        if (split(trimmed, frames)) {
          return bounded(frames);
        }
      } catch (IOException malformed) {
        // one frame, below
      }
    }
    return bounded(List.of(body));
  }

  /** The frames of a well-formed array, in order; false when something follows the array. */
  private boolean split(String array, List<String> frames) throws IOException {
    try (JsonParser p = factory.createParser(array)) {
      p.nextToken(); // [
      for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
        if (t == null) {
          return false;
        }
        if (t.isStructStart()) {
          int start = (int) p.currentTokenLocation().getCharOffset();
          p.skipChildren();
          frames.add(array.substring(start, (int) p.currentLocation().getCharOffset()));
        } else {
          // not a frame (a frame is an object): its JSON text, for the actor to refuse
          frames.add(t == JsonToken.VALUE_STRING ? Json.quote(p.getText()) : p.getText());
        }
      }
      return p.nextToken() == null;
    }
  }

  /** The frames up to the first one over the size bound, which closes the connection (1009). */
  private Incoming.Posted bounded(List<String> frames) {
    for (int i = 0; i < frames.size(); i++) {
      if (Json.utf8Length(frames.get(i)) > maxFrameBytes) {
        return new Incoming.Posted(List.copyOf(frames.subList(0, i)), true);
      }
    }
    return new Incoming.Posted(frames, false);
  }
}

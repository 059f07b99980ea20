package lms.realtime.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import lms.realtime.protocol.Json;
import org.junit.jupiter.api.Test;

/**
 * The API's bodies as Jackson writes them (the mapper of {@link Responses#JSON}): the contract's
 * field order, frames carried as the engine wrote them, and the one error shape, built by hand byte
 * for byte as Jackson writes it.
 */
class ApiBodiesTest {

  private static String write(Object body) throws Exception {
    return Json.MAPPER.writeValueAsString(body);
  }

  @Test
  void framesAreCopiedAsWrittenNotParsedAndWrittenAgain() throws Exception {
    // spaces, a trailing zero, an escaped character and key order a re-encoding would all change
    String frame = "{\"type\" : \"event\", \"data\":{\"n\":1.50,\"s\":\"\\u00e9\"},\"b\":1, \"a\":2}";
    assertEquals("{\"room\":\"course:1\",\"epoch\":\"e:1\",\"seq\":7,\"recovered\":true,\"events\":[" + frame + ",[1,2]]}",
        write(new RoomsApi.RecentEvents("course:1", "e:1", 7, true, RawJson.all(List.of(frame, "[1,2]")))));
    assertEquals("{\"room\":\"live:x\",\"users\":[]}", write(new RoomsApi.Presence("live:x", List.of())));
    assertEquals("{\"room\":\"live:x\",\"users\":[{\"userId\":\"u\"},{\"userId\":\"v\"}]}",
        write(new RoomsApi.Presence("live:x", RawJson.all(List.of("{\"userId\":\"u\"}", "{\"userId\":\"v\"}")))));
  }

  @Test
  void everyBodyHasTheContractsFieldsInItsOrder() throws Exception {
    assertEquals("{\"userId\":\"u\\\"1\",\"epoch\":\"ep\",\"seq\":3,\"recovered\":false,\"notifications\":[{\"type\":\"notification\"}],\"read\":[1,2]}",
        write(new UsersApi.Inbox("u\"1", "ep", 3, false, RawJson.all(List.of("{\"type\":\"notification\"}")), List.of(1L, 2L))));
    assertEquals("{\"userId\":\"u\",\"epoch\":\"ep\",\"seq\":0,\"recovered\":false,\"notifications\":[],\"read\":[]}",
        write(new UsersApi.Inbox("u", "ep", 0, false, List.of(), List.of())));
    assertEquals("{\"userId\":\"u\",\"online\":true,\"connections\":2}", write(new UsersApi.Presence("u", true, 2)));
    assertEquals("{\"removed\":3}", write(new RoomsApi.Removal(3)));
  }

  /** The error body as Jackson writes it (the mapper of the API's records): the hand-built one must match it byte for byte. */
  private static String asJackson(String error, String message) {
    ObjectNode body = Json.MAPPER.createObjectNode().put("error", error);
    if (message != null) {
      body.put("message", message);
    }
    return Json.write(body);
  }

  @Test
  void theOneErrorShapeIsWhatJacksonWrites() throws Exception {
    StringBuilder every = new StringBuilder();
    for (char c = 0; c < 0x80; c++) {
      every.append(c);
    }
    for (String message : new String[] {every.toString(), "é ü ß 中文 😀 \u2028\u2029 \uFEFF", "\uD800 lone", "", null}) {
      assertEquals(asJackson("bad_request", message), Json.errorBody("bad_request", message));
      assertEquals(asJackson("unavailable", message), ApiError.unavailable(message).body());
    }
    assertEquals("{\"error\":\"not_found\",\"message\":\"no such API call\"}", ApiError.notFound("no such API call").body());
    assertEquals("{\"error\":\"too_many_connections\"}", Json.errorBody("too_many_connections", null));
  }

  @Test
  void eachCodeHasItsStatus() {
    assertEquals(400, ApiError.badRequest("m").status());
    assertEquals(401, ApiError.unauthorized("m").status());
    assertEquals(403, ApiError.forbidden("m").status());
    assertEquals(404, ApiError.notFound("m").status());
    assertEquals(503, ApiError.unavailable("m").status());
    assertEquals(500, ApiError.internal("m").status());
    assertEquals("too_large", ApiError.tooLarge(413, "m").error());
    assertEquals(413, ApiError.tooLarge(413, "m").response().status().intValue());
    assertEquals("application/json", ApiError.tooLarge(413, "m").response().entity().getContentType().toString());
  }
}

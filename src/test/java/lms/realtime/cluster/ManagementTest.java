package lms.realtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import lms.realtime.testkit.TestNode;
import lms.realtime.testkit.WsClient;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Pekko Management on LMS_MANAGEMENT_PORT: the cluster HTTP API lists this node as Up. */
@Tag("socket")
class ManagementTest {
  @Test
  void clusterHttpManagementListsTheNode() throws Exception {
    int port = TestNode.freePort();
    try (TestNode node = TestNode.start(Map.of("lms.cluster.management-port", port))) {
      HttpResponse<String> r = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/cluster/members")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      JsonNode members = WsClient.JSON.readTree(r.body()).get("members");
      assertEquals(1, members.size());
      assertEquals("Up", members.get(0).get("status").asText());
      assertTrue(members.get(0).get("node").asText().startsWith("pekko://lms-realtime@127.0.0.1:"));
      assertEquals(200, node.get("/health/ready", null).statusCode());
    }
  }
}

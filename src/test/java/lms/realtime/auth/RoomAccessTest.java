package lms.realtime.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import java.util.Set;
import lms.realtime.protocol.RoomName;
import org.junit.jupiter.api.Test;

/** The issue time a removal compares, per room kind (issue 22: a live room's is the older credential's). */
class RoomAccessTest {
  private static Identity access(Long issuedAt) {
    return new Identity("u1", null, Set.of(), Map.of("7", "student"), 2_000_000_000L, issuedAt);
  }

  private static RoomGrant roomToken(Long issuedAt) {
    return new RoomGrant("u1", "live:x", "student", 2_000_000_000L, issuedAt);
  }

  @Test
  void aLiveRoomMembershipHoldsTheOlderOfItsTwoCredentials() {
    RoomName live = RoomName.parse("live:x");
    assertEquals(100L, RoomAccess.join(access(100L), live, roomToken(200L)).issuedAt(), "an older access token");
    assertEquals(100L, RoomAccess.join(access(200L), live, roomToken(100L)).issuedAt(), "an older room token");
    assertNull(RoomAccess.join(access(null), live, roomToken(200L)).issuedAt(), "no iat counts as older than any removal");
    assertNull(RoomAccess.join(access(100L), live, roomToken(null)).issuedAt());
  }

  @Test
  void otherRoomsHoldTheAccessTokens() {
    assertEquals(100L, RoomAccess.join(access(100L), RoomName.parse("course:7"), null).issuedAt());
    assertEquals(100L, RoomAccess.join(access(100L), RoomName.user("u1"), null).issuedAt());
  }
}

package lms.realtime.fanout;

import lms.realtime.protocol.CborSerializable;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A member of a room as its room and its hub keep it: the socket, whose it is, its role and
 * whether it sees presence; what a room needs to take a member back without a new join request.
 */
public record MemberInfo(ActorRef<MemberInbox> socket, String userId, String name, String role, boolean seesPresence)
    implements CborSerializable {}

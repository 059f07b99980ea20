package lms.realtime.protocol;

/**
 * Marker for every message that may cross nodes: bound to Jackson CBOR in application.conf, so
 * Java serialization is never used.
 */
public interface CborSerializable {}

// The tunnel wire protocol: the one definition of frames shared by the laptop daemon, the
// traffic-manager and the traffic-agent. Numbers, layouts and limits live here; encoding is in
// frame-encoder.ts, strict incremental parsing in frame-decoder.ts, behaviour in session.ts.
// It leaves out transports entirely: frames are bytes carried by any message transport.
//
// PROTOCOL_VERSION and compatibility rules
// - Each side's first frame is HELLO carrying PROTOCOL_VERSION. A peer that announces another
//   version gets the session closed with a protocol error (TP_ERR_TUNNEL_VERSION): both ends of a
//   tunnel ship in the same release, so there is no negotiation.
// - Bump PROTOCOL_VERSION for any change to the frame header, a frame's payload layout, a new
//   frame type, or a changed meaning of an existing one.
// - No bump is needed to add an error code (receivers map unknown codes to 'internal'), to add
//   fields to OPEN metadata or to control messages (receivers ignore unknown JSON fields), or to
//   change a default limit.
// - test/protocol-guard.test.ts fingerprints these definitions and fails when they change while
//   PROTOCOL_VERSION stays; its message says what to bump and which fingerprint to record.
//
// Frame layout (all integers big-endian):
//   type u8 | streamId u32 | payloadLength u32 | payload
// Stream ids: 0 is the session itself; streams opened by the WebSocket client side are odd,
// streams opened by the server side are even, and each side's ids only ever increase.

export const PROTOCOL_VERSION = 1;

export const FRAME_HEADER_BYTES = 9;

/** Frame types, grouped: session frames (stream id 0) then stream frames. */
export const FrameType = {
  // Session frames.
  HELLO: 0x01, // version u16
  PING: 0x02, // opaque 8 bytes
  PONG: 0x03, // the PING's 8 bytes echoed
  GO_AWAY: 0x04, // code u8 | reason utf8: no new streams; open ones may finish
  CONTROL: 0x05, // JSON utf8: control channel (events and RPC)
  // Stream frames.
  OPEN: 0x10, // window u32 | port u16 | hostLength u16 | host utf8 | metadata JSON utf8 (may be empty)
  OPEN_OK: 0x11, // window u32
  OPEN_ERROR: 0x12, // code u8 | message utf8
  DATA: 0x13, // bytes
  WINDOW: 0x14, // increment u32 (> 0)
  FIN: 0x15, // empty: the sender will send no more data (half-close)
  RESET: 0x16, // code u8 | message utf8: the stream is aborted in both directions
} as const;

export type FrameTypeNumber = (typeof FrameType)[keyof typeof FrameType];

/**
 * Reasons carried by OPEN_ERROR, RESET and GO_AWAY. Adding one needs no version bump; a receiver
 * maps a number it does not know to 'internal'.
 */
export const ErrorCodeNumber = {
  refused: 1, // the destination refused the connection
  unreachable: 2, // no route to the destination
  timeout: 3, // the destination did not answer in time
  dns: 4, // the destination's name does not resolve
  forbidden: 5, // policy does not allow this destination or this peer
  limit: 6, // a limit (streams, pending opens) was reached
  'going-away': 7, // the session is draining
  cancel: 8, // the opener or the stream's owner gave up
  protocol: 9, // the peer broke the protocol
  internal: 10, // anything else
  normal: 11, // GO_AWAY only: an orderly shutdown
} as const;

export type ErrorCodeName = keyof typeof ErrorCodeNumber;

const codeNames = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCodeNumber).map(([name, value]) => [value, name as ErrorCodeName]),
);

export function errorCodeName(value: number): ErrorCodeName {
  return codeNames.get(value) ?? 'internal';
}

/** Wire limits. Every length read from the wire is checked against one of these before use. */
export const Limits = {
  /** Largest payload of any frame a decoder accepts unless configured otherwise. */
  MAX_FRAME_PAYLOAD: 1024 * 1024,
  /** Upper bound for a configured maxFramePayload. */
  MAX_FRAME_PAYLOAD_CEILING: 16 * 1024 * 1024,
  /** DNS names are at most 253 bytes; a little room for IPv6 literals and zones. */
  MAX_HOST_BYTES: 255,
  MAX_METADATA_BYTES: 16 * 1024,
  MAX_REASON_BYTES: 1024,
  /** A send window may never exceed this (as in HTTP/2, RFC 9113 section 6.9.1). */
  MAX_WINDOW: 2 ** 31 - 1,
  MAX_STREAM_ID: 2 ** 32 - 1,
} as const;

export const PING_PAYLOAD_BYTES = 8;
export const WINDOW_PAYLOAD_BYTES = 4;
export const HELLO_PAYLOAD_BYTES = 2;

/**
 * Default tuning, documented on SessionOptions. The memory they allow: a receive window is credit,
 * not an allocation, so an idle stream buffers nothing; what the peer can make a session buffer
 * is at most MAX_SESSION_BUFFER + MAX_STREAMS × MIN_WINDOW (64 + 16 MiB). Streams start with
 * INITIAL_WINDOW (HTTP/2's default size: a typical response arrives in one round trip) while the
 * session's budget lasts, so MAX_STREAMS × INITIAL_WINDOW = MAX_SESSION_BUFFER; bulk streams grow
 * toward MAX_WINDOW from the budget that idle ones leave. More connections take more sessions
 * (the daemon's pool opens them on demand), each with its own budget.
 */
export const Defaults = {
  INITIAL_WINDOW: 64 * 1024,
  /** A stream opened when the session's budget is spent starts with this window. */
  MIN_WINDOW: 16 * 1024,
  MAX_WINDOW: 16 * 1024 * 1024,
  MAX_SESSION_BUFFER: 64 * 1024 * 1024,
  MAX_DATA_FRAME: 128 * 1024,
  MAX_STREAMS: 1024,
  MAX_PENDING_OPENS: 256,
  OPEN_TIMEOUT_MS: 30_000,
  PING_INTERVAL_MS: 10_000,
  DEAD_PEER_TIMEOUT_MS: 30_000,
  TRANSPORT_HIGH_WATER: 4 * 1024 * 1024,
  MAX_MESSAGE_BYTES: 1024 * 1024,
  CLOSE_TIMEOUT_MS: 10_000,
  RPC_TIMEOUT_MS: 30_000,
} as const;

export type Role = 'client' | 'server';

/** True when `streamId` is one that `role` opens (client odd, server even). */
export function isOpenedBy(role: Role, streamId: number): boolean {
  return role === 'client' ? streamId % 2 === 1 : streamId % 2 === 0;
}

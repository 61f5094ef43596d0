// Session options with their documented defaults, and the stats a session reports. Defaults
// come from protocol.ts (Defaults) so every component agrees on them.
import { Defaults, Limits, type Role } from './protocol.js';

export interface SessionOptions {
  /** 'client' opens odd stream ids (the side that dialled the transport), 'server' even ones. */
  role: Role;
  /** Id used in logs; random by default. */
  id?: string;
  /** Receive window each stream starts with while the session's buffer budget lasts (then Defaults.MIN_WINDOW). Default 64 KiB. */
  initialWindow?: number;
  /** Largest receive window a bulk stream may grow to. Default 16 MiB. */
  maxWindow?: number;
  /** Cap on receive windows summed over all streams (what the peer may make us buffer). Default 64 MiB. */
  maxSessionBuffer?: number;
  /** Largest frame payload accepted from the peer. Default 1 MiB. */
  maxFramePayload?: number;
  /** Largest DATA payload we send. Default 128 KiB (or maxFramePayload if smaller). */
  maxDataFrame?: number;
  /** Concurrent streams (both directions); opens beyond get OPEN_ERROR 'limit'. Default 1024. */
  maxStreams?: number;
  /** Opens awaiting an answer, each direction; beyond get 'limit'. Default 256. */
  maxPendingOpens?: number;
  /** open() gives up (reason 'timeout') after this. Default 30 s. */
  openTimeoutMs?: number;
  /** Ping interval; 0 disables pings. Default 10 s. */
  pingIntervalMs?: number;
  /** The session dies (TP_ERR_TUNNEL_PEER_TIMEOUT) if nothing is heard for this long; 0 disables. Default 30 s. */
  deadPeerTimeoutMs?: number;
  /** Writers wait while the transport holds more than this. Default 4 MiB. */
  transportHighWater?: number;
  /** Largest batch of frames sent as one transport message. Default 1 MiB. */
  maxMessageBytes?: number;
  /** close() destroys the session if streams have not finished by then. Default 10 s. */
  closeTimeoutMs?: number;
}

export interface SessionStats {
  id: string;
  openStreams: number;
  pendingOpens: number;
  bytesIn: number;
  bytesOut: number;
  /** Last measured ping round trip in ms; undefined until the first pong. */
  rttMs: number | undefined;
  /** Bytes held by this session: unsent frames, transport queue, and unread stream data. */
  bufferedBytes: number;
  draining: boolean;
  peerDraining: boolean;
}

export type ResolvedSessionOptions = Required<Omit<SessionOptions, 'id'>>;

export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  const maxFramePayload = options.maxFramePayload ?? Limits.MAX_FRAME_PAYLOAD;
  return {
    role: options.role,
    initialWindow: options.initialWindow ?? Defaults.INITIAL_WINDOW,
    maxWindow: options.maxWindow ?? Defaults.MAX_WINDOW,
    maxSessionBuffer: options.maxSessionBuffer ?? Defaults.MAX_SESSION_BUFFER,
    maxFramePayload,
    maxDataFrame: options.maxDataFrame ?? Math.min(Defaults.MAX_DATA_FRAME, maxFramePayload),
    maxStreams: options.maxStreams ?? Defaults.MAX_STREAMS,
    maxPendingOpens: options.maxPendingOpens ?? Defaults.MAX_PENDING_OPENS,
    openTimeoutMs: options.openTimeoutMs ?? Defaults.OPEN_TIMEOUT_MS,
    pingIntervalMs: options.pingIntervalMs ?? Defaults.PING_INTERVAL_MS,
    deadPeerTimeoutMs: options.deadPeerTimeoutMs ?? Defaults.DEAD_PEER_TIMEOUT_MS,
    transportHighWater: options.transportHighWater ?? Defaults.TRANSPORT_HIGH_WATER,
    maxMessageBytes: options.maxMessageBytes ?? Defaults.MAX_MESSAGE_BYTES,
    closeTimeoutMs: options.closeTimeoutMs ?? Defaults.CLOSE_TIMEOUT_MS,
  };
}

// Errors of the tunnel, each with a stable `code` callers match on. src/tunnel imports nothing else
// of tp but the leaf logger (src/log), so it has its own class; the CLI wraps these into TpError where a user meets them.
// A `reason` (an ErrorCodeName from protocol.ts) says what the wire carried, when it carried one.
import type { ErrorCodeName } from './protocol.js';

export type TunnelErrorCode =
  | 'TUNNEL_ERR_PROTOCOL' // the peer broke the protocol; the session is closed
  | 'TUNNEL_ERR_VERSION' // the peer speaks another PROTOCOL_VERSION
  | 'TUNNEL_ERR_OPEN' // an open was answered with OPEN_ERROR (see OpenError and `reason`)
  | 'TUNNEL_ERR_STREAM_RESET' // the peer reset the stream (see `reason`)
  | 'TUNNEL_ERR_SESSION_CLOSED' // the session ended while the stream or request was alive
  | 'TUNNEL_ERR_PEER_TIMEOUT' // nothing heard from the peer within deadPeerTimeoutMs
  | 'TUNNEL_ERR_GOING_AWAY' // the session is draining and takes no new streams
  | 'TUNNEL_ERR_LIMIT' // a local limit was reached
  | 'TUNNEL_ERR_RPC_TIMEOUT' // no response to a control request in time
  | 'TUNNEL_ERR_RPC_FAILED' // the peer's handler failed (`remoteCode` carries its code)
  | 'TUNNEL_ERR_UNAUTHORIZED' // the server refused our credentials (HTTP 401)
  | 'TUNNEL_ERR_CONNECT' // the transport could not be established
  | 'TUNNEL_ERR_INVALID_ARGUMENT' // a caller passed something unusable
  | 'TUNNEL_ERR_NO_SESSION'; // a pool has no live session to use

export interface TunnelErrorOptions {
  cause?: unknown;
  reason?: ErrorCodeName;
}

export class TunnelError extends Error {
  readonly code: TunnelErrorCode;
  /** The wire reason behind this error, when the peer sent one. */
  readonly reason: ErrorCodeName | undefined;

  constructor(code: TunnelErrorCode, message: string, options: TunnelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TunnelError';
    this.code = code;
    this.reason = options.reason;
  }
}

/** An open answered with OPEN_ERROR (or given up locally): `reason` is refused, dns, timeout… */
export class OpenError extends TunnelError {
  declare readonly reason: ErrorCodeName;

  constructor(reason: ErrorCodeName, message: string, options: { cause?: unknown } = {}) {
    super('TUNNEL_ERR_OPEN', message, { ...options, reason });
    this.name = 'OpenError';
  }
}

export function protocolError(message: string): TunnelError {
  return new TunnelError('TUNNEL_ERR_PROTOCOL', `tunnel protocol violation: ${message}`, { reason: 'protocol' });
}

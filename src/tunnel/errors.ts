// Errors of the tunnel, each with a stable `code` callers match on. src/tunnel imports nothing else
// of tp but the leaf logger (src/log), so it has its own class; the CLI wraps these into TpError where a user meets them.
// Its codes follow tp's one scheme (TP_ERR_TUNNEL_*) and are registered in src/errors.ts.
// A `reason` (an ErrorCodeName from protocol.ts) says what the wire carried, when it carried one.
import type { ErrorCodeName } from './protocol.js';

export type TunnelErrorCode =
  | 'TP_ERR_TUNNEL_PROTOCOL' // the peer broke the protocol; the session is closed
  | 'TP_ERR_TUNNEL_VERSION' // the peer speaks another PROTOCOL_VERSION
  | 'TP_ERR_TUNNEL_OPEN' // an open was answered with OPEN_ERROR (see OpenError and `reason`)
  | 'TP_ERR_TUNNEL_STREAM_RESET' // the peer reset the stream (see `reason`)
  | 'TP_ERR_TUNNEL_SESSION_CLOSED' // the session ended while the stream or request was alive
  | 'TP_ERR_TUNNEL_PEER_TIMEOUT' // nothing heard from the peer within deadPeerTimeoutMs
  | 'TP_ERR_TUNNEL_GOING_AWAY' // the session is draining and takes no new streams
  | 'TP_ERR_TUNNEL_LIMIT' // a local limit was reached
  | 'TP_ERR_TUNNEL_RPC_TIMEOUT' // no response to a control request in time
  | 'TP_ERR_TUNNEL_RPC_FAILED' // the peer's handler failed (a RemoteCallError carries its code and message)
  | 'TP_ERR_TUNNEL_RPC_NO_METHOD' // the peer has no handler for the method (sent as a response's error code)
  | 'TP_ERR_TUNNEL_UNAUTHORIZED' // the server refused our credentials (HTTP 401)
  | 'TP_ERR_TUNNEL_CONNECT' // the transport could not be established
  | 'TP_ERR_TUNNEL_INVALID_ARGUMENT' // a caller passed something unusable
  | 'TP_ERR_TUNNEL_NO_SESSION'; // a pool has no live session to use

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
    super('TP_ERR_TUNNEL_OPEN', message, { ...options, reason });
    this.name = 'OpenError';
  }
}

export function protocolError(message: string): TunnelError {
  return new TunnelError('TP_ERR_TUNNEL_PROTOCOL', `tunnel protocol violation: ${message}`, { reason: 'protocol' });
}

/** A control request the peer answered with an error: `peerCode` and `peerMessage` are what it sent. */
export class RemoteCallError extends TunnelError {
  constructor(
    readonly method: string,
    readonly peerCode: string,
    readonly peerMessage: string,
  ) {
    super('TP_ERR_TUNNEL_RPC_FAILED', `peer failed the request ${method}: ${peerMessage} (${peerCode})`);
    this.name = 'RemoteCallError';
  }
}

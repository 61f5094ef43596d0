// The Dial hook every front door (SOCKS5, HTTP proxy, CONNECT) opens its outbound connections
// with, its typed failures, and the default direct dialer (plain TCP). The daemon plugs in a dial
// that sends `via: 'cluster'` targets up the tunnel; tests plug in local servers. Each failure
// kind maps to the protocol's own reply at the edge: `socksReplyFor` (RFC 1928 §6) and
// `httpStatusFor` (TP_ERR_DIAL_LIMIT, tp itself out of room, is 0x01 and 503). Leaves out upstream
// corporate proxies (upstream-proxy.ts) and the routing decision itself (routing.ts).
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TpError } from '../errors.js';
import type { DialRoute } from './routing.js';

export interface DialTarget {
  host: string;
  port: number;
}

/** The route decided for the target (the cluster host included: a Dial never decides again), and who asked. */
export type DialContext = DialRoute & {
  /** Who asked, for logs ("127.0.0.1:53122"). */
  client: string;
  protocol: 'socks' | 'http' | 'connect';
};

/** Opens a byte stream to the target; resolves once connected, rejects with a DialError. */
export type Dial = (target: DialTarget, context: DialContext) => Promise<Duplex>;

export type DialErrorCode =
  | 'TP_ERR_DIAL_REFUSED'
  | 'TP_ERR_DIAL_UNREACHABLE'
  | 'TP_ERR_DIAL_NET_UNREACHABLE'
  | 'TP_ERR_DIAL_TIMEOUT'
  | 'TP_ERR_DIAL_DNS'
  | 'TP_ERR_DIAL_FORBIDDEN'
  | 'TP_ERR_DIAL_LIMIT'
  | 'TP_ERR_DIAL_FAILED';

export class DialError extends TpError {
  declare readonly code: DialErrorCode;
  readonly target: DialTarget;

  constructor(code: DialErrorCode, target: DialTarget, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.name = 'DialError';
    this.target = target;
  }
}

/** RFC 1928 §6 reply codes. */
export const SOCKS_REPLY = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Node's errno codes (and ours) → DialError kinds. */
const ERRNO_KINDS: Record<string, DialErrorCode> = {
  ECONNREFUSED: 'TP_ERR_DIAL_REFUSED',
  ECONNRESET: 'TP_ERR_DIAL_REFUSED',
  EHOSTUNREACH: 'TP_ERR_DIAL_UNREACHABLE',
  ENETUNREACH: 'TP_ERR_DIAL_NET_UNREACHABLE',
  EHOSTDOWN: 'TP_ERR_DIAL_UNREACHABLE',
  EADDRNOTAVAIL: 'TP_ERR_DIAL_UNREACHABLE',
  ETIMEDOUT: 'TP_ERR_DIAL_TIMEOUT',
  ENOTFOUND: 'TP_ERR_DIAL_DNS',
  EAI_AGAIN: 'TP_ERR_DIAL_DNS',
  EAI_NONAME: 'TP_ERR_DIAL_DNS',
  EACCES: 'TP_ERR_DIAL_FORBIDDEN',
  EPERM: 'TP_ERR_DIAL_FORBIDDEN',
};

const KIND_WORDS: Record<DialErrorCode, string> = {
  TP_ERR_DIAL_REFUSED: 'the connection was refused',
  TP_ERR_DIAL_UNREACHABLE: 'the host is unreachable',
  TP_ERR_DIAL_NET_UNREACHABLE: 'the network is unreachable',
  TP_ERR_DIAL_TIMEOUT: 'the connection timed out',
  TP_ERR_DIAL_DNS: 'the name did not resolve',
  TP_ERR_DIAL_FORBIDDEN: 'the connection is not allowed',
  TP_ERR_DIAL_LIMIT: 'too many connections are open',
  TP_ERR_DIAL_FAILED: 'the connection failed',
};

/** Wraps any error from a dial in a DialError (kept as is if it already is one). */
export function toDialError(error: unknown, target: DialTarget): DialError {
  if (error instanceof DialError) return error;
  const errno = (error as { code?: unknown } | undefined)?.code;
  const code = (typeof errno === 'string' && ERRNO_KINDS[errno]) || 'TP_ERR_DIAL_FAILED';
  const detail = error instanceof Error ? ` (${error.message})` : '';
  // Node's HTTP client refusing an answer (HPE_*, e.g. both Transfer-Encoding and Content-Length): the connection was made.
  if (typeof errno === 'string' && errno.startsWith('HPE_')) return new DialError(code, target, `got an answer from ${formatTarget(target)} that is not valid HTTP/1.1${detail}`, error);
  return new DialError(code, target, `could not connect to ${formatTarget(target)}: ${KIND_WORDS[code]}${detail}`, error);
}

export function formatTarget(target: DialTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** The RFC 1928 §6 reply for a failed dial. */
export function socksReplyFor(error: DialError): number {
  switch (error.code) {
    case 'TP_ERR_DIAL_REFUSED':
      return SOCKS_REPLY.CONNECTION_REFUSED;
    case 'TP_ERR_DIAL_NET_UNREACHABLE':
      return SOCKS_REPLY.NETWORK_UNREACHABLE;
    case 'TP_ERR_DIAL_UNREACHABLE':
    case 'TP_ERR_DIAL_DNS':
    case 'TP_ERR_DIAL_TIMEOUT':
      // RFC 1928 has no "timed out"; curl and browsers read 0x04 as "could not reach".
      return SOCKS_REPLY.HOST_UNREACHABLE;
    case 'TP_ERR_DIAL_FORBIDDEN':
      return SOCKS_REPLY.NOT_ALLOWED;
    // TP_ERR_DIAL_LIMIT: RFC 1928 has no "busy"; 0x01 is the server's own failure, and the log says which limit.
    default:
      return SOCKS_REPLY.GENERAL_FAILURE;
  }
}

/** The HTTP status a proxy answers with for a failed dial. */
export function httpStatusFor(error: DialError): number {
  switch (error.code) {
    case 'TP_ERR_DIAL_TIMEOUT':
      return 504;
    case 'TP_ERR_DIAL_FORBIDDEN':
      return 403;
    case 'TP_ERR_DIAL_LIMIT':
      // The proxy itself is out of room, not the destination (RFC 9110 section 15.6.4).
      return 503;
    default:
      return 502;
  }
}

/** The plain-text body a proxy answers a failed dial with: what failed, and its code. */
export function httpFailureText(error: DialError): string {
  return `tp proxy ${error.message}\n(code ${error.code})\n`;
}

export interface DirectDialOptions {
  connectTimeoutMs?: number;
}

/** Connects a TCP socket with TCP_NODELAY; rejects with a DialError, including on timeout. */
export function connectTcp(target: DialTarget, options: DirectDialOptions = {}): Promise<Socket> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError('TP_ERR_DIAL_TIMEOUT', target, `could not connect to ${formatTarget(target)}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(toDialError(error, target));
    };
    socket.once('error', onError);
  });
}

/** The default Dial: every target straight over TCP from this machine. */
export function createDirectDial(options: DirectDialOptions = {}): Dial {
  return (target) => connectTcp(target, options);
}

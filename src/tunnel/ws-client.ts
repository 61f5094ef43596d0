// Dials a tunnel server: a WebSocket (ws:// or wss:// with a caller-given CA) carrying a Session
// in the client role. The bearer token goes in the Authorization header of the upgrade and
// nowhere else. `createConnection` lets the caller supply the byte stream the WebSocket runs
// over (the laptop reaches the manager through a Kubernetes port-forward stream); for wss:// the
// hook must return a TLS socket (e.g. tls.connect({ socket: yourDuplex, ... })).
import type { ClientRequestArgs } from 'node:http';
import type { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import WebSocket from 'ws';
import { TunnelError } from './errors.js';
import { Session, type SessionOptions } from './session.js';
import { WebSocketTransport, zeroMask } from './ws-transport.js';

const log = logger('tp:tunnel');

/** ws accepts messages up to this size; sessions send at most about maxMessageBytes + one frame. */
export const WS_MAX_PAYLOAD = 64 * 1024 * 1024;

export interface ConnectOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** CA certificate(s) to trust for wss:// (e.g. the manager's self-signed CA). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** TLS server name to verify, when it differs from the URL's host. */
  servername?: string;
  /** Supplies the socket the WebSocket runs over instead of dialling the URL's host. */
  createConnection?: (options: ClientRequestArgs) => Duplex;
  /** Gives up on the upgrade after this. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Options for the Session (role is 'client'). */
  session?: Omit<SessionOptions, 'role'>;
}

/** Opens the WebSocket and returns it as a Transport; rejects with TP_ERR_TUNNEL_UNAUTHORIZED or TP_ERR_TUNNEL_CONNECT. */
export function connectWebSocket(url: string, options: ConnectOptions = {}): Promise<WebSocketTransport> {
  const target = new URL(url);
  const label = `${target.protocol}//${target.host}${target.pathname}`;
  return new Promise((resolve, reject) => {
    // ws hands unknown options (servername) on to tls.connect.
    const wsOptions: WebSocket.ClientOptions & { servername?: string } = {
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      generateMask: zeroMask,
      ca: options.ca,
      servername: options.servername,
      // ws passes its own options through to the hook; the cast narrows ws's socket type.
      createConnection: options.createConnection as unknown as typeof createConnection | undefined,
    };
    const ws = new WebSocket(url, wsOptions);
    ws.once('unexpected-response', (request, response) => {
      const status = response.statusCode ?? 0;
      request.destroy();
      ws.terminate();
      response.resume();
      log.warn('.. !! %s refused the upgrade with HTTP %d', label, status);
      reject(
        status === 401 || status === 403
          ? new TunnelError('TP_ERR_TUNNEL_UNAUTHORIZED', `tunnel server ${label} refused our credentials (HTTP ${status})`)
          : new TunnelError('TP_ERR_TUNNEL_CONNECT', `tunnel server ${label} answered the upgrade with HTTP ${status}`),
      );
    });
    // `on`, not `once`: terminate() after a refused upgrade emits one more error.
    const onError = (error: Error): void => reject(new TunnelError('TP_ERR_TUNNEL_CONNECT', `cannot reach tunnel server ${label}: ${error.message}`, { cause: error }));
    ws.on('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(new WebSocketTransport(ws, label));
    });
  });
}

/** Connects to a tunnel server and starts a client Session on the WebSocket. */
export async function connectTunnel(url: string, options: ConnectOptions = {}): Promise<Session> {
  const transport = await connectWebSocket(url, options);
  return new Session(transport, { ...options.session, role: 'client' });
}

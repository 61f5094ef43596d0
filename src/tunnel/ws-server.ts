// Accepts tunnels: an HTTP(S) server whose upgrade handler authenticates the bearer token before
// any WebSocket (let alone stream) exists, answering 401 to a missing or wrong one, then runs a
// server-role Session on each WebSocket and emits 'session' (session, identity). It can listen on
// its own (127.0.0.1 by default, TLS when given cert and key) or hook into a caller's server.
// Plain HTTP requests get 426. Tokens never reach a log.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import { WebSocketServer } from 'ws';
import { bearerToken, type Authenticate } from './auth.js';
import { Session, type SessionOptions } from './session.js';
import { WS_MAX_PAYLOAD } from './ws-client.js';
import { WebSocketTransport } from './ws-transport.js';

const log = logger('tp:tunnel');

/** Node's default suites with AES-128-GCM first: as strong for this use and cheaper per byte with
 *  AES-NI, which matters for a bulk tunnel. */
const PREFERRED_CIPHERS = ['TLS_AES_128_GCM_SHA256', ...tls.DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':');

export interface TunnelServerOptions<Identity> {
  /** Decides who a bearer token belongs to; null refuses it with HTTP 401. */
  authenticate: Authenticate<Identity>;
  /** Listen address when no `server` is given. Default 127.0.0.1. */
  host?: string;
  /** Listen port when no `server` is given. Default 0 (any free port). */
  port?: number;
  /** Upgrade path. Default '/tunnel'. */
  path?: string;
  /** Serve wss:// with this certificate and key (other TLS options pass through to https). */
  tls?: { cert: string | Buffer; key: string | Buffer } & https.ServerOptions;
  /** Attach to this server's upgrades instead of listening; close() then leaves it running. */
  server?: http.Server | https.Server;
  /** Options for each Session (role is 'server'). */
  session?: Omit<SessionOptions, 'role'>;
}

export interface TunnelServerEvents<Identity> {
  session: [session: Session, identity: Identity];
}

export class TunnelServer<Identity = unknown> extends EventEmitter<TunnelServerEvents<Identity>> {
  readonly sessions = new Set<Session>();
  private readonly server: http.Server | https.Server;
  private readonly ownsServer: boolean;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: WS_MAX_PAYLOAD });
  private readonly path: string;
  private readonly onUpgradeBound = (request: http.IncomingMessage, socket: Duplex, head: Buffer): void => void this.onUpgrade(request, socket, head);
  private closing: Promise<void> | null = null;

  private constructor(private readonly options: TunnelServerOptions<Identity>) {
    super();
    this.path = options.path ?? '/tunnel';
    this.ownsServer = options.server === undefined;
    this.server =
      options.server ??
      (options.tls ? https.createServer({ ciphers: PREFERRED_CIPHERS, honorCipherOrder: true, ...options.tls }) : http.createServer());
    if (this.ownsServer) {
      this.server.on('request', (_request, response: http.ServerResponse) => {
        response.writeHead(426, { connection: 'close', upgrade: 'websocket' }).end('tunnel endpoint: WebSocket upgrade required\n');
      });
    }
    this.server.on('upgrade', this.onUpgradeBound);
  }

  /** Starts a server (listening unless `server` was given). */
  static async listen<Identity>(options: TunnelServerOptions<Identity>): Promise<TunnelServer<Identity>> {
    const server = new TunnelServer(options);
    if (server.ownsServer) {
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
          server.server.off('error', reject);
          resolve();
        });
      });
    }
    return server;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** ws:// or wss:// URL of this server on its listen address. */
  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.options.tls ? 'wss' : 'ws'}://${host}:${address.port}${this.path}`;
  }

  /** Stops accepting, lets every session drain (Session.close), then closes the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.server.off('upgrade', this.onUpgradeBound);
      const stopped = this.ownsServer ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
      await Promise.all([...this.sessions].map((session) => session.close()));
      if (this.ownsServer) this.server.closeAllConnections();
      await stopped;
    })();
    return this.closing;
  }

  /** Ends every session now and closes the server. */
  destroy(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    return this.close();
  }

  private async onUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {});
    const peer = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const path = new URL(request.url ?? '/', 'http://tunnel').pathname;
    if (path !== this.path) return refuse(socket, 404, 'Not Found');
    const token = bearerToken(request.headers.authorization);
    let identity: Identity | null = null;
    if (token !== null) {
      try {
        identity = await this.options.authenticate(token);
      } catch (error) {
        log.warn('.. !! authenticate hook failed for %s: %s', peer, (error as Error).message);
        return refuse(socket, 500, 'Internal Server Error');
      }
    }
    if (identity === null) {
      log.warn('.. !! %s refused: %s bearer token', peer, token === null ? 'no' : 'a wrong');
      return refuse(socket, 401, 'Unauthorized', 'www-authenticate: Bearer realm="tp"\r\n');
    }
    if (socket.destroyed || this.closing) return;
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const session = new Session(new WebSocketTransport(ws, `ws<-${peer}`), { ...this.options.session, role: 'server' });
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      this.emit('session', session, identity);
    });
  }
}

function refuse(socket: Duplex, status: number, text: string, extraHeaders = ''): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n${extraHeaders}\r\n`);
}

// Routes HTTP/1.1 per request for an agent port that has personal intercepts: a node:http server
// (never listening; the agent hands it accepted sockets) parses each request, asks the intercept
// table where it goes, and proxies it with the `http-proxy` package through a keep-alive agent of
// that client connection: the app's (127.0.0.1:appPort) or one per intercept whose connections
// are tunnel streams. Interleaved requests on one keep-alive client connection therefore each go
// to their own side. Upgrades (WebSocket, h2c) follow the same decision on their request and are
// then piped raw.
// Failures: a request whose intercept stream cannot be opened goes to the app (fail open; the
// laptop side answers 502 itself when nothing listens on its local port); an app that cannot be
// reached gets 502; a request that cannot be parsed gets 400. Leaves out routing inside HTTP/2
// (an h2c-upgraded connection is not parsed further; agent.ts sends prior-knowledge h2c to the
// app before it gets here) and CONNECT (answered 405).
import { createServer, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import httpProxy from 'http-proxy';
import { pipeBothWays, reset, resetClientIfCut } from '../net/pipe.js';
import type { InterceptRule, InterceptTable, RequestRoute } from './intercept-table.js';
import { createConnectAgent } from '../net/connect-agent.js';
import { stripHopByHop } from '../net/hop-by-hop.js';

const log = logger('tp:agent:http');

/** Longest request head accepted (Node's maxHeaderSize); larger gets 431. */
export const MAX_HEADER_BYTES = 32 * 1024;
/** Idle keep-alive client connections are closed after this (Node's 5 s default is shorter than most clients expect). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

const INTERCEPT_KEY = 'intercept:';

export interface HttpRouterOptions {
  appHost: string;
  appPort: number;
  table: InterceptTable;
  /** Opens a tunnel stream for one intercepted connection. */
  openIntercept: (intercept: InterceptRule, peer: string) => Promise<Duplex>;
}

interface ClientConnection {
  id: string;
  peer: string;
  agents: Map<string, Agent>;
  requests: number;
}

export class HttpRouter {
  private readonly server: Server;
  private readonly proxy = httpProxy.createProxyServer({ xfwd: false, prependPath: false });
  private readonly clients = new WeakMap<Socket, ClientConnection>();
  private readonly live = new Set<ClientConnection>();
  private readonly target: string;

  constructor(private readonly options: HttpRouterOptions) {
    this.target = `http://${options.appHost.includes(':') ? `[${options.appHost}]` : options.appHost}:${options.appPort}`;
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) =>
      this.onRequest(request, response),
    );
    // A client that sends its request and shuts its write side (HTTP/1.0 style) still gets the
    // answer: without httpAllowHalfOpen (a Server property since Node 0.x, not in its types) Node
    // aborts the request in flight when it reads that FIN.
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(request, socket as Socket, head));
    this.server.on('connect', (_request: IncomingMessage, socket: Duplex) => endRaw(socket, 405, 'tp agent: CONNECT is not forwarded\n'));
    this.server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.onClientError(error, socket));
    this.proxy.on('proxyRes', (proxyResponse, _request, response) => {
      resetClientIfCut(proxyResponse, response as ServerResponse);
      stripHopByHop(proxyResponse.headers);
      // The client connection's own keep-alive state decides, not the upstream's.
      proxyResponse.headers.connection = (response as ServerResponse).shouldKeepAlive ? 'keep-alive' : 'close';
    });
    // http-proxy re-emits errors of requests given no callback; every call here gives one.
    this.proxy.on('error', (error) => log.warn('!! proxy error %s', error.message));
  }

  /**
   * Takes over an accepted client connection. Nagle goes off on it: Node's HTTP server turns it
   * off only on connections it accepts itself, and an answer written in two pieces (a chunked
   * body and its last chunk) would otherwise wait for the client's delayed ACK, ~40 ms a request.
   */
  handle(socket: Socket, id: string): void {
    socket.setNoDelay(true);
    const client: ClientConnection = { id, peer: `${socket.remoteAddress}:${socket.remotePort}`, agents: new Map(), requests: 0 };
    this.clients.set(socket, client);
    this.live.add(client);
    socket.once('close', () => {
      this.live.delete(client);
      for (const agent of client.agents.values()) agent.destroy();
      client.agents.clear();
    });
    this.server.emit('connection', socket);
  }

  /** Closes the upstream connections of intercepts that are no longer in the table (their requests in flight end too). */
  dropIntercepts(remaining: ReadonlySet<string>): void {
    for (const client of this.live) {
      for (const [key, agent] of client.agents) {
        if (key === 'app' || remaining.has(key.slice(INTERCEPT_KEY.length))) continue;
        log.info('-- %s intercept %s ended; its connections close', client.id, key.slice(INTERCEPT_KEY.length));
        agent.destroy();
        client.agents.delete(key);
      }
    }
  }

  /** Ends keep-alive client connections that are between requests (for a graceful close). */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    const client = this.clients.get(request.socket as Socket);
    if (!client) return void response.destroy();
    const route = this.route(request);
    const tag = `${client.id}.${++client.requests}`;
    log('-> %s %s %s → %s', tag, request.method, (request.url ?? '').split('?')[0].slice(0, 200), describe(route));
    stripHopByHop(request.headers);
    this.proxy.web(request, response, { target: this.target, agent: this.agentFor(client, route) }, (error) => {
      log.info('!! %s %s', tag, error.message);
      // Cut mid-answer (the intercepted side reset): the client sees a reset, not a short answer.
      if (response.headersSent) return void (response.socket ? reset(response.socket) : response.destroy());
      const [status, text] = failureReply(error, route);
      sendText(response, status, text);
    });
  }

  /**
   * Upgrades (WebSocket, h2c) are forwarded raw: the request head is written as received to a
   * connection of the chosen side and the two are piped, so any upgrade protocol passes.
   */
  private onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const client = this.clients.get(socket);
    if (!client) return void socket.destroy();
    const route = this.route(request);
    const tag = `${client.id}.${++client.requests}`;
    log('-> %s upgrade %s %s → %s', tag, String(request.headers.upgrade).slice(0, 40), (request.url ?? '').split('?')[0].slice(0, 200), describe(route));
    const connecting = route.to === 'app' ? this.dialApp().then((stream) => ({ stream })) : this.dialIntercept(client, route.intercept);
    connecting.then(
      ({ stream }) => {
        if (socket.destroyed) return void stream.destroy();
        stream.write(requestHead(request));
        if (head.length > 0) stream.write(head);
        pipeBothWays(socket, stream, (error) => (error ? log.info : log)('-- %s upgrade closed%s', tag, error ? ` (${error.message})` : ''));
      },
      (error: Error) => {
        log.info('!! %s upgrade %s', tag, error.message);
        const [status, text] = failureReply(error, route);
        endRaw(socket, status, text);
      },
    );
  }

  private route(request: IncomingMessage): RequestRoute {
    return this.options.table.routeRequest(this.options.appPort, { url: request.url ?? '/', rawHeaders: request.rawHeaders });
  }

  private agentFor(client: ClientConnection, route: RequestRoute): Agent {
    const key = route.to === 'app' ? 'app' : `${INTERCEPT_KEY}${route.intercept.id}`;
    let agent = client.agents.get(key);
    if (!agent) {
      agent = route.to === 'app' ? createConnectAgent(async () => ({ stream: await this.dialApp() })) : createConnectAgent(() => this.dialIntercept(client, route.intercept));
      client.agents.set(key, agent);
    }
    return agent;
  }

  private dialApp(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host: this.options.appHost, port: this.options.appPort, noDelay: true, allowHalfOpen: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  /** A tunnel stream for the intercept; the app instead (for one request) when the tunnel cannot give one. */
  private async dialIntercept(client: ClientConnection, intercept: InterceptRule): Promise<{ stream: Duplex; reuse?: boolean }> {
    try {
      return { stream: await this.options.openIntercept(intercept, client.peer) };
    } catch (error) {
      log.info('!! %s intercept %s unavailable (%s); this request goes to the app', client.id, intercept.id, (error as Error).message);
      return { stream: await this.dialApp(), reuse: false };
    }
  }

  private onClientError(error: Error & { code?: string }, socket: Duplex): void {
    log.info('!! malformed request (%s): %s', error.code ?? 'unknown', error.message);
    if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    endRaw(socket, status, `tp agent: the request could not be parsed (${error.code ?? error.message})\n`);
  }
}

/** The request head as received (method, target, version, headers in their order and casing). */
export function requestHead(request: IncomingMessage): Buffer {
  const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
  // Node's parser reads a head's bytes as latin1; encoded the same way, they are the bytes received.
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

function describe(route: RequestRoute): string {
  return route.to === 'app' ? 'app' : `intercept ${route.intercept.id}`;
}


function failureReply(error: Error, route: RequestRoute): [number, string] {
  const side = route.to === 'app' ? 'the app' : `intercept "${route.intercept.name ?? route.intercept.id}"`;
  return [502, `tp agent: could not reach ${side}: ${error.message}\n`];
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway' };

function sendText(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** A complete HTTP/1.1 response on a raw socket (upgrade failures, parse errors), then close. */
function endRaw(socket: Duplex, status: number, body: string): void {
  if (!socket.writable) return void socket.destroy();
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

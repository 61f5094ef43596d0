// The laptop's HTTP proxy front door: absolute-form requests (`GET http://host/path`) spliced by
// http-forward.ts over a stream per client connection and origin; what that path does not take
// (HTTP/1.0, chunked uploads, Expect, Upgrade, heads it cannot parse, and every answer that is an
// error) goes at a request boundary to Node's HTTP server, which forwards it with the
// `http-proxy` package over a per-client keep-alive agent whose connections come from the Dial
// hook (src/net/connect-agent.ts); CONNECT tunnels for TLS and any TCP; and the PAC file at
// `GET /proxy.pac` for requests addressed to the proxy itself. Every request is routed by its own
// Host through routing.ts. Proxy-* and other hop-by-hop headers are dropped; a Connection header
// listing Content-Length, Transfer-Encoding or Host gets a request 400 and an answer 502 (on both
// paths; dropped, it would frame a body one way here, another at the next hop). A failed dial
// gets 502/504/403 with a plain-text body; a malformed request gets 400; the server lives on.
// Bounds (limits.ts): a request head must arrive within a deadline (from accept, and from the
// first byte of each next head on a keep-alive connection; 408) and within a size (431); past
// the connection cap a client gets 503. The destination host (CONNECT authority, absolute-form
// URL host) must pass host-name.ts or gets 400; the Host header is never used for routing (it is
// replaced by the URL's host), so it is not checked.
// Who may call: the owner gate (owner-gate.ts) refuses another user's connection with 403; where
// the gate asks for credentials instead, requests and CONNECT need `Proxy-Authorization: Basic`
// (407 otherwise) and the PAC file its URL's `key`.
// Leaves out https:// absolute-form and WebSocket upgrades over absolute-form (clients use
// CONNECT for those).
import { logger } from '../log/logger.js';
import { createServer, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ForwardedConnection, type ForwardHost } from './http-forward.js';
import { endRaw } from './http-framing.js';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { closeGracefully, ConnectionSet, listen } from '../net/connection-set.js';
import { framingListedIn, stripHopByHop } from '../net/hop-by-hop.js';
import { createConnectAgent } from '../net/connect-agent.js';
import { createDirectDial, formatTarget, httpFailureText, httpStatusFor, toDialError, type Dial } from './dial.js';
import { checkHost } from './host-name.js';
import { ConnectionCap, HTTP_HEAD_DEADLINE_MS, HTTP_KEEP_ALIVE_IDLE_MS, HTTP_MAX_HEAD_BYTES, MAX_PROXY_CONNECTIONS } from './limits.js';
import { PAC_CONTENT_TYPE, PAC_PATH } from './pac.js';
import { proxyAuthorizationMatches, secretMatches } from './door-credentials.js';
import { NOT_YOUR_DOOR, type OwnerGate } from './owner-gate.js';
import { pipeBothWays, reset, resetClientIfCut } from '../net/pipe.js';
import { createRoutingTable, decideRoute, type RouteDecision, type RouteTarget } from './routing.js';

const log = logger('tp:proxy:http');

export interface HttpProxyServerOptions {
  route?: (target: RouteTarget) => RouteDecision;
  dial?: Dial;
  /** The PAC file's text, served at /proxy.pac; 404 there when absent. */
  pacFile?: () => string;
  /** Who may use this door, PAC file included (owner-gate.ts). Default: everyone. */
  gate?: OwnerGate;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the system picks. */
  port?: number;
  /** close() waits this long for requests and tunnels to finish. Default 5 s. */
  closeTimeoutMs?: number;
  /** Longest request head accepted, in bytes (Node's maxHeaderSize). Default HTTP_MAX_HEAD_BYTES. */
  maxHeaderBytes?: number;
  /** A request head must be complete this long after it starts. Default HTTP_HEAD_DEADLINE_MS. */
  headDeadlineMs?: number;
  /** Client connections open at once, tunnels included. Default MAX_PROXY_CONNECTIONS. */
  maxConnections?: number;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** Node checks head deadlines on an interval: this many checks per deadline cut a head within 1¼ of it. */
const HEAD_DEADLINE_CHECKS = 4;

/** Parses CONNECT's authority-form target: `host:port` or `[v6]:port`. */
export function parseAuthority(authority: string): RouteTarget & { port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]\s]+)):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2], port };
}

export class HttpProxyServer {
  private readonly server: Server;
  private readonly proxy = httpProxy.createProxyServer({ xfwd: false, prependPath: false });
  private readonly connections = new ConnectionSet();
  private readonly route: (target: RouteTarget) => RouteDecision;
  private readonly dial: Dial;
  private readonly options: HttpProxyServerOptions;
  private readonly agents = new WeakMap<Socket, Agent>();
  private readonly clients: ConnectionCap;
  /** Connections answered 503 at accept: whatever Node parses on them afterwards is ignored. */
  private readonly refused = new WeakSet<Socket>();
  /** Each connection's owner check while it runs: requests on it wait for the answer. */
  private readonly admissions = new WeakMap<Socket, Promise<boolean>>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  /** Connections on the spliced path (http-forward.ts). */
  private readonly forwarded = new Set<ForwardedConnection>();
  private readonly forwardHost: ForwardHost;
  /** Node's own connection handler, for connections the spliced path hands over. */
  private readonly nodeConnection: (socket: Socket) => void;

  constructor(options: HttpProxyServerOptions = {}) {
    this.options = options;
    const defaultTable = options.route ? undefined : createRoutingTable();
    this.route = options.route ?? ((target) => decideRoute(target, defaultTable!));
    this.dial = options.dial ?? createDirectDial();
    this.clients = new ConnectionCap(options.maxConnections ?? MAX_PROXY_CONNECTIONS);
    const headDeadlineMs = options.headDeadlineMs ?? HTTP_HEAD_DEADLINE_MS;
    this.server = createServer(
      {
        maxHeaderSize: options.maxHeaderBytes ?? HTTP_MAX_HEAD_BYTES,
        headersTimeout: headDeadlineMs,
        // Node's default (300 s for the whole request, body included) would cut a long upload.
        requestTimeout: 0,
        connectionsCheckingInterval: Math.ceil(headDeadlineMs / HEAD_DEADLINE_CHECKS),
        keepAliveTimeout: HTTP_KEEP_ALIVE_IDLE_MS,
      },
      (request, response) => this.onRequest(request, response),
    );
    // A client that half-closes after its request still gets the answer (see agent/http-router.ts).
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Connections start on the spliced path; Node's handler gets the ones handed over.
    const [nodeConnection, ...others] = this.server.listeners('connection') as ((socket: Socket) => void)[];
    if (!nodeConnection || others.length > 0) throw new Error('node:http changed: expected one connection listener on http.Server');
    this.nodeConnection = nodeConnection;
    this.server.removeAllListeners('connection');
    this.server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.forwardHost = this.createForwardHost(headDeadlineMs);
    this.server.on('connect', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onConnect(request, socket as Socket, head));
    this.server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.onClientError(error, socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
    this.proxy.on('proxyRes', (proxyResponse, _request, response) => {
      const listed = framingListedIn(proxyResponse.headers.connection);
      if (listed !== undefined) {
        log.info('!! the destination\'s Connection header lists %s', listed);
        proxyResponse.destroy();
        return sendText(response as ServerResponse, 502, `tp proxy: the destination broke the exchange: its Connection header lists ${listed}, which no hop may drop\n`);
      }
      resetClientIfCut(proxyResponse, response as ServerResponse);
      stripHopByHop(proxyResponse.headers, { proxyHeaders: true });
      // The client's own keep-alive state decides, not the destination's.
      proxyResponse.headers.connection = (response as ServerResponse).shouldKeepAlive ? 'keep-alive' : 'close';
    });
  }

  async listen(): Promise<AddressInfo> {
    const address = await listen(this.server, this.options.port, this.options.host);
    log.info('listening on %s:%d', address.address, address.port);
    return address;
  }

  /** Stops accepting, ends idle keep-alive connections, waits for the rest, then destroys them. */
  close(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS, () => {
      this.server.closeIdleConnections();
      for (const connection of this.forwarded) connection.closeIfIdle();
    });
    return this.closing;
  }

  destroy(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, 0);
    this.connections.destroyAll();
    return this.closing;
  }

  private agentFor(socket: Socket): Agent {
    let agent = this.agents.get(socket);
    if (!agent) {
      const client = `${socket.remoteAddress}:${socket.remotePort}`;
      // Plain requests travel like SOCKS and CONNECT: routed by routing.ts, then dialed.
      const created = createConnectAgent(async (target) => {
        const decision = this.route(target);
        log('-> %s dial %s via %s (%s)', client, formatTarget(target), decision.via, decision.reason);
        try {
          return { stream: await this.dial(target, { ...decision, client, protocol: 'http' }) };
        } catch (error) {
          throw toDialError(error, target);
        }
      }, { maxSockets: 16 });
      socket.once('close', () => created.destroy());
      this.agents.set(socket, created);
      agent = created;
    }
    return agent;
  }

  private createForwardHost(headDeadlineMs: number): ForwardHost {
    const isClosing = (): boolean => this.closing !== undefined;
    return {
      headDeadlineMs,
      maxHeadBytes: this.options.maxHeaderBytes ?? HTTP_MAX_HEAD_BYTES,
      keepAliveIdleMs: HTTP_KEEP_ALIVE_IDLE_MS,
      get closing() {
        return isClosing();
      },
      nextId: () => `h${this.nextId++}`,
      authorized: (value) => {
        const credentials = this.options.gate?.credentials;
        return !credentials || proxyAuthorizationMatches(credentials, value);
      },
      open: async (target, client) => {
        const decision = this.route(target);
        log('-> %s dial %s via %s (%s)', client, formatTarget(target), decision.via, decision.reason);
        const stream = await this.dial(target, { ...decision, client, protocol: 'http' });
        this.connections.add(stream);
        return stream;
      },
      handOver: (socket, bytes) => {
        if (bytes.length > 0) socket.unshift(bytes);
        this.nodeConnection.call(this.server, socket);
        socket.resume();
      },
    };
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    if (this.clients.admit(socket)) {
      const start = (): void => {
        const connection = new ForwardedConnection(socket, this.forwardHost);
        this.forwarded.add(connection);
        socket.once('close', () => this.forwarded.delete(connection));
      };
      if (!this.options.gate) return start();
      this.checkOwner(socket, this.options.gate);
      this.whenAdmitted(socket, start);
      return;
    }
    log.info('!! %s:%d refused: %d connections open, the most this proxy takes', socket.remoteAddress, socket.remotePort, this.clients.max);
    this.refused.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
    endRaw(socket, 503, `tp proxy: too many connections (${this.clients.max} open, the most tp's HTTP proxy takes); try again when some have closed\n`);
  }

  /** Another user's connection gets a 403 that says why, whatever it asked for (the PAC file too). */
  private checkOwner(socket: Socket, gate: OwnerGate): void {
    const admitted = gate.admitsConnection(socket, 'HTTP proxy', true);
    this.admissions.set(socket, admitted);
    void admitted.then((ok) => {
      if (ok) return;
      this.refused.add(socket);
      socket.on('error', () => undefined);
      socket.resume();
      endRaw(socket, 403, NOT_YOUR_DOOR);
    });
  }

  /** Runs `next` once the connection's owner check (when there is one) has let it in. */
  private whenAdmitted(socket: Socket, next: () => void): void {
    const admitted = this.admissions.get(socket);
    if (admitted) void admitted.then((ok) => ok && next());
    else next();
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    this.whenAdmitted(request.socket, () => this.onAdmittedRequest(request, response));
  }

  private onAdmittedRequest(request: IncomingMessage, response: ServerResponse): void {
    if (this.refused.has(request.socket)) return;
    const id = `h${this.nextId++}`;
    const url = request.url ?? '';
    if (url.startsWith('/')) {
      this.serveOwn(id, request, response);
      return;
    }
    if (!this.authorized(request)) {
      log.info('!! %s %s:%d: no valid Proxy-Authorization', id, request.socket.remoteAddress, request.socket.remotePort);
      sendText(response, 407, PROXY_AUTH_NEEDED, { 'proxy-authenticate': PROXY_AUTHENTICATE });
      return;
    }
    const listed = framingListedIn(request.headers.connection);
    if (listed !== undefined) {
      log.info('!! %s refused: its Connection header lists %s', id, listed);
      return sendText(response, 400, `tp proxy: the request's Connection header lists ${listed}, which no proxy may drop; leave it out of Connection\n`, { connection: 'close' });
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      sendText(response, 400, `tp proxy: "${url.slice(0, 200)}" is not an absolute http:// URL\n`);
      return;
    }
    if (target.protocol !== 'http:') {
      sendText(response, 400, `tp proxy: only http:// URLs are forwarded; use CONNECT for ${target.protocol}//\n`);
      return;
    }
    const check = checkHost(target.hostname);
    if (!check.ok) {
      log.info('!! %s refused a bad host name: %s', id, check.why);
      sendText(response, 400, `tp proxy: the URL's host is not a valid host name or IP address: ${check.why}\n`);
      return;
    }
    log('-> %s %s %s', id, request.method, `${target.protocol}//${target.host}${target.pathname}`);
    stripHopByHop(request.headers, { proxyHeaders: true });
    request.headers.host = target.host;
    this.proxy.web(request, response, { target: target.origin, agent: this.agentFor(request.socket) }, (error) => {
      const port = Number(target.port || 80);
      const dialError = toDialError(error, { host: target.hostname.replace(/^\[|\]$/g, ''), port });
      log.info('!! %s %s: %s', id, dialError.code, dialError.message);
      if (!response.headersSent) sendText(response, httpStatusFor(dialError), httpFailureText(dialError));
      // Cut mid-answer (the destination reset): the client sees a reset, not a short answer.
      else if (response.socket) reset(response.socket);
      else response.destroy();
    });
  }

  private serveOwn(id: string, request: IncomingMessage, response: ServerResponse): void {
    const [path, query] = (request.url ?? '').split('?', 2);
    if (path === PAC_PATH && this.options.pacFile && (request.method === 'GET' || request.method === 'HEAD')) {
      const credentials = this.options.gate?.credentials;
      // Browsers fetch the PAC file directly, without proxy credentials: its URL carries the key.
      if (credentials && !secretMatches(credentials, new URLSearchParams(query ?? '').get('key') ?? '')) {
        log.info('!! %s PAC file asked for without the right key', id);
        sendText(response, 403, 'tp proxy: the PAC file URL needs its key; use the PAC URL `tp connect` printed\n');
        return;
      }
      log('<- %s PAC file', id);
      const body = this.options.pacFile();
      response.writeHead(200, { 'content-type': PAC_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    sendText(response, 404, `tp proxy: nothing at ${path.slice(0, 200)} (this is a proxy; the PAC file is at ${PAC_PATH})\n`);
  }

  private onConnect(request: IncomingMessage, socket: Socket, head: Buffer): void {
    this.whenAdmitted(socket, () => this.onAdmittedConnect(request, socket, head));
  }

  private onAdmittedConnect(request: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.refused.has(socket)) return;
    const id = `c${this.nextId++}`;
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (error) => log('!! %s client error %s', id, error.message));
    if (!this.authorized(request)) {
      log.info('!! %s %s: CONNECT without a valid Proxy-Authorization', id, client);
      endRaw(socket, 407, PROXY_AUTH_NEEDED, `proxy-authenticate: ${PROXY_AUTHENTICATE}\r\n`);
      return;
    }
    const target = parseAuthority(request.url ?? '');
    if (!target) {
      log.info('!! %s bad CONNECT target %s', id, (request.url ?? '').slice(0, 200));
      endRaw(socket, 400, `tp proxy: CONNECT needs host:port, got "${(request.url ?? '').slice(0, 200)}"\n`);
      return;
    }
    const check = checkHost(target.host);
    if (!check.ok) {
      log.info('!! %s refused a bad host name: %s', id, check.why);
      endRaw(socket, 400, `tp proxy: the CONNECT host is not a valid host name or IP address: ${check.why}\n`);
      return;
    }
    const decision = this.route(target);
    log('-> %s %s CONNECT %s via %s (%s)', id, client, formatTarget(target), decision.via, decision.reason);
    this.dial(target, { ...decision, client, protocol: 'connect' }).then(
      (upstream) => {
        if (socket.destroyed) {
          upstream.destroy();
          return;
        }
        this.connections.add(upstream);
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        log('<- %s connected', id);
        pipeBothWays(socket, upstream, (error) => (error ? log.info : log)('-- %s %s closed%s', id, formatTarget(target), error ? ` (${error.message})` : ''));
      },
      (error: unknown) => {
        const dialError = toDialError(error, target);
        log.info('!! %s %s: %s', id, dialError.code, dialError.message);
        endRaw(socket, httpStatusFor(dialError), httpFailureText(dialError));
      },
    );
  }

  /** Where the gate asks for credentials, the request must carry them. */
  private authorized(request: IncomingMessage): boolean {
    const credentials = this.options.gate?.credentials;
    return !credentials || proxyAuthorizationMatches(credentials, request.headers['proxy-authorization']);
  }

  private onClientError(error: Error & { code?: string }, socket: Duplex): void {
    log.info('!! malformed request (%s): %s', error.code ?? 'unknown', error.message);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      endRaw(socket, 408, `tp proxy: the request head did not arrive within ${this.server.headersTimeout} ms\n`);
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    endRaw(socket, status, `tp proxy: the request could not be parsed (${error.code ?? error.message})\n`);
  }
}

const PROXY_AUTHENTICATE = 'Basic realm="tp"';
const PROXY_AUTH_NEEDED = 'tp proxy: this proxy needs the username and password in the proxy URL `tp connect` printed\n';

function sendText(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

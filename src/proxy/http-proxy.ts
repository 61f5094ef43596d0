// The laptop's HTTP proxy front door: absolute-form requests (`GET http://host/path`) forwarded
// with the `http-proxy` package over a per-client keep-alive agent whose connections come from the
// Dial hook (dial-agent.ts); CONNECT tunnels for TLS and any TCP; and the PAC file at
// `GET /proxy.pac` for requests addressed to the proxy itself. Every request is routed by its own
// Host through routing.ts. Proxy-* and other hop-by-hop headers are dropped. A failed dial gets
// 502/504/403 with a plain-text body; a malformed request gets 400; the server lives on.
// Leaves out proxy authentication (loopback only), https:// absolute-form and WebSocket upgrades
// over absolute-form (clients use CONNECT for those).
import { logger } from '../log/logger.js';
import { createServer, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { closeGracefully, ConnectionSet, listen } from './connection-set.js';
import { stripHopByHop } from './hop-by-hop.js';
import { createDialAgent } from './dial-agent.js';
import { createDirectDial, formatTarget, httpStatusFor, toDialError, type Dial, type DialError } from './dial.js';
import { PAC_CONTENT_TYPE, PAC_PATH } from './pac.js';
import { pipeBothWays } from './pipe.js';
import { createRoutingTable, decideRoute, type RouteDecision, type RouteTarget } from './routing.js';

const log = logger('tp:proxy:http');

export interface HttpProxyServerOptions {
  route?: (target: RouteTarget) => RouteDecision;
  dial?: Dial;
  /** The PAC file's text, served at /proxy.pac; 404 there when absent. */
  pacFile?: () => string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the system picks. */
  port?: number;
  /** close() waits this long for requests and tunnels to finish. Default 5 s. */
  closeTimeoutMs?: number;
  /** Longest request head accepted, in bytes (Node's maxHeaderSize). Default 16 KiB. */
  maxHeaderBytes?: number;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

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
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(options: HttpProxyServerOptions = {}) {
    this.options = options;
    const defaultTable = options.route ? undefined : createRoutingTable();
    this.route = options.route ?? ((target) => decideRoute(target, defaultTable!));
    this.dial = options.dial ?? createDirectDial();
    this.server = createServer({ maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES }, (request, response) =>
      this.onRequest(request, response),
    );
    this.server.on('connection', (socket: Socket) => this.connections.add(socket));
    this.server.on('connect', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onConnect(request, socket as Socket, head));
    this.server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.onClientError(error, socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
    this.proxy.on('proxyRes', (proxyResponse, _request, response) => {
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
    this.closing ??= closeGracefully(this.server, this.connections, this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS, () =>
      this.server.closeIdleConnections(),
    );
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
      const created = createDialAgent({
        dial: this.dial,
        route: this.route,
        client,
        onDial: (target, decision) => log('-> %s dial %s via %s (%s)', client, formatTarget({ host: target.host, port: target.port ?? 80 }), decision.via, decision.reason),
      });
      socket.once('close', () => created.destroy());
      this.agents.set(socket, created);
      agent = created;
    }
    return agent;
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    const id = `h${this.nextId++}`;
    const url = request.url ?? '';
    if (url.startsWith('/')) {
      this.serveOwn(id, request, response);
      return;
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
    log('-> %s %s %s', id, request.method, `${target.protocol}//${target.host}${target.pathname}`);
    stripHopByHop(request.headers, { proxyHeaders: true });
    request.headers.host = target.host;
    this.proxy.web(request, response, { target: target.origin, agent: this.agentFor(request.socket) }, (error) => {
      const port = Number(target.port || 80);
      const dialError = toDialError(error, { host: target.hostname.replace(/^\[|\]$/g, ''), port });
      log.info('!! %s %s: %s', id, dialError.code, dialError.message);
      if (response.headersSent) response.destroy();
      else sendText(response, httpStatusFor(dialError), describeFailure(dialError));
    });
  }

  private serveOwn(id: string, request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '').split('?')[0];
    if (path === PAC_PATH && this.options.pacFile && (request.method === 'GET' || request.method === 'HEAD')) {
      log('<- %s PAC file', id);
      const body = this.options.pacFile();
      response.writeHead(200, { 'content-type': PAC_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    sendText(response, 404, `tp proxy: nothing at ${path.slice(0, 200)} (this is a proxy; the PAC file is at ${PAC_PATH})\n`);
  }

  private onConnect(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const id = `c${this.nextId++}`;
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (error) => log('!! %s client error %s', id, error.message));
    const target = parseAuthority(request.url ?? '');
    if (!target) {
      log.info('!! %s bad CONNECT target %s', id, (request.url ?? '').slice(0, 200));
      endRaw(socket, 400, `tp proxy: CONNECT needs host:port, got "${(request.url ?? '').slice(0, 200)}"\n`);
      return;
    }
    const decision = this.route(target);
    log('-> %s %s CONNECT %s via %s (%s)', id, client, formatTarget(target), decision.via, decision.reason);
    this.dial(target, { via: decision.via, client, protocol: 'connect' }).then(
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
        endRaw(socket, httpStatusFor(dialError), describeFailure(dialError));
      },
    );
  }

  private onClientError(error: Error & { code?: string }, socket: Duplex): void {
    log.info('!! malformed request (%s): %s', error.code ?? 'unknown', error.message);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    endRaw(socket, status, `tp proxy: the request could not be parsed (${error.code ?? error.message})\n`);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

function describeFailure(error: DialError): string {
  return `tp proxy ${error.message}\n(code ${error.code})\n`;
}

function sendText(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** Writes a complete HTTP/1.1 response on a raw socket (CONNECT and parse errors) and closes it. */
function endRaw(socket: Duplex, status: number, body: string): void {
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

// The HTTP proxy's spliced path for plain absolute-form requests (`GET http://host/path`), one
// ForwardedConnection per client connection. It reads request heads itself, sends each one
// rewritten (origin-form, Host from the URL, hop-by-hop and Proxy-* headers dropped) over an
// upstream stream it keeps for the client's next request to the same origin, and passes bodies
// both ways as they come, never parsed into objects or copied: http-framing.ts only counts where
// each body ends, and http-head.ts reads and rewrites heads in place. That is what brings a
// keep-alive request near what a SOCKS5 one costs (docs/http-proxy-performance.md).
// Anything else, at a request boundary, goes to Node's HTTP server with `http-proxy` (handOver):
// CONNECT, the PAC file, HTTP/1.0, Transfer-Encoding or Expect or Upgrade on a request, a bad
// host, missing proxy credentials, a Connection listing a framing header (refused there), heads
// this parser does not take. The connection then stays there. TCP semantics: a response cut
// short upstream (a reset, or a FIN before its length) resets the client; a client's FIN passes on after its bytes, and the answer still comes.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import { reset } from '../net/pipe.js';
import { onPeerEnd } from '../tunnel/socket-pipe.js';
import { httpFailureText, httpStatusFor, toDialError, type DialError, type DialTarget } from './dial.js';
import { BodyCounter, endRaw, FramingError } from './http-framing.js';
import {
  connectionHas,
  headEnd,
  headerValues,
  listedFraming,
  parseRequestHead,
  parseResponseHead,
  PROXY_AUTHORIZATION,
  requestBodyLength,
  responseFraming,
  rewriteHead,
  splitTarget,
  type Origin,
  type RequestHead,
} from './http-head.js';

const log = logger('tp:proxy:http');
/** Client bytes held while a request's stream opens or its answer comes, before the client is paused. */
const HELD_BYTES = 64 * 1024;
/** A response head longer than this is refused (the client gets a reset, or 502 before any byte). */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

export interface ForwardHost {
  readonly headDeadlineMs: number;
  readonly maxHeadBytes: number;
  readonly keepAliveIdleMs: number;
  /** Routes and dials a destination for this client. */
  open(target: DialTarget, client: string): Promise<Duplex>;
  /** Whether a request with this Proxy-Authorization may pass. */
  authorized(proxyAuthorization: string | undefined): boolean;
  /** The connection goes to Node's HTTP server, `bytes` first. */
  handOver(socket: Socket, bytes: Buffer): void;
  /** True once the proxy closes: connections end at their next request boundary. */
  readonly closing: boolean;
  nextId(): string;
}

interface Exchange {
  /** For logs, given at the first log line (a string per request costs when nothing is logged). */
  id: string | undefined;
  method: string;
  /** The client keeps its connection after this exchange. */
  keepAlive: boolean;
  request: BodyCounter;
  response: BodyCounter | undefined;
  responseHead: Buffer;
  headSent: boolean;
}

export class ForwardedConnection {
  private buffered: Buffer = EMPTY;
  private exchange: Exchange | undefined;
  private upstream: Duplex | undefined;
  private origin = '';
  /** The last request's parsed authority: the next one to the same origin skips parsing it. */
  private lastOrigin: Origin | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Between requests: the next head's first byte starts its deadline. */
  private idle = false;
  /** When the head being waited for is late (Date.now()); Infinity during an exchange. */
  private deadline = Infinity;
  private clientEnded = false;
  /** What fromUpstream has for the client while collecting, written once it is done with a chunk. */
  private readonly outgoing: Buffer[] = [];
  private collecting = false;
  private finished = false;
  private readonly client: string;
  private readonly onData = (chunk: Buffer): void => this.fromClient(chunk);

  constructor(
    private readonly socket: Socket,
    private readonly host: ForwardHost,
  ) {
    this.client = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    onPeerEnd(socket, () => this.onClientEnd());
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
    this.awaitHead(host.headDeadlineMs);
  }

  /** Ends the connection now if it is between requests; otherwise after the current one. */
  closeIfIdle(): void {
    if (!this.exchange && this.buffered.length === 0) this.endBoth();
  }

  private idOf(exchange: Exchange): string {
    return (exchange.id ??= this.host.nextId());
  }

  // ---- client side ----

  private fromClient(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange && !exchange.request.done && this.upstream) {
      const n = exchange.request.take(chunk);
      this.toUpstream(chunk.subarray(0, n));
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.exchange) {
      // Bytes for a stream still opening, or pipelined requests, wait; past a bound, so does the client.
      if (this.buffered.length > HELD_BYTES) this.socket.pause();
      return;
    }
    this.readHead();
  }

  private readHead(): void {
    if (this.buffered.length === 0 || this.finished) return;
    if (this.idle) this.awaitHead(this.host.headDeadlineMs);
    const end = headEnd(this.buffered);
    if (end === -1) {
      if (this.buffered.length > this.host.maxHeadBytes) this.refuse(431, 'tp proxy: the request head is too large\n');
      return;
    }
    if (end > this.host.maxHeadBytes) return this.refuse(431, 'tp proxy: the request head is too large\n');
    this.deadline = Infinity;
    const request = parseRequestHead(this.buffered, end);
    const route = request && this.forwardable(request);
    if (!request || !route) return this.giveAway();
    this.buffered = end === this.buffered.length ? EMPTY : this.buffered.subarray(end);
    const keepAlive = !connectionHas(request, 'close') && !this.host.closing;
    const exchange: Exchange = {
      id: undefined,
      method: request.method,
      keepAlive,
      request: route.bodyLength === 0 ? NO_BODY : new BodyCounter({ kind: 'length', length: route.bodyLength }),
      response: undefined,
      responseHead: EMPTY,
      headSent: false,
    };
    this.exchange = exchange;
    if (log.enabled) log('-> %s %s http://%s%s', this.idOf(exchange), request.method, route.target.hostHeader, route.path.split('?')[0]);
    const forwarded = rewriteHead(request, `${request.method} ${route.path} HTTP/1.1`, `host: ${route.target.hostHeader}\r\n`, '', true);
    const origin = route.target.authority;
    if (this.upstream && this.origin === origin) return this.send(exchange, forwarded);
    this.dropUpstream();
    this.origin = origin;
    this.host.open({ host: route.target.host, port: route.target.port }, this.client).then(
      (upstream) => {
        if (this.finished) return void upstream.destroy();
        this.attachUpstream(upstream);
        this.send(exchange, forwarded);
      },
      (error: unknown) => this.dialFailed(exchange, toDialError(error, { host: route.target.host, port: route.target.port })),
    );
  }

  /** The request's destination, or undefined when Node's HTTP server should answer it. */
  private forwardable(request: RequestHead): { path: string; target: Origin; bodyLength: number } | undefined {
    if (request.minor !== 1 || request.method === 'CONNECT' || !request.target.startsWith('http://')) return undefined;
    if (request.special || listedFraming(request) !== undefined) return undefined;
    const bodyLength = requestBodyLength(request);
    if (bodyLength === undefined) return undefined;
    const authorization = request.has(PROXY_AUTHORIZATION) ? headerValues(request, 'proxy-authorization') : [];
    if (authorization.length > 1 || !this.host.authorized(authorization[0])) return undefined;
    const split = splitTarget(request.target, this.lastOrigin);
    if (!split) return undefined;
    this.lastOrigin = split.origin;
    return { path: split.path, target: split.origin, bodyLength };
  }

  private send(exchange: Exchange, head: Buffer): void {
    this.toUpstream(head);
    const body = this.buffered;
    this.buffered = EMPTY;
    if (body.length > 0) this.fromClient(body);
    if (this.exchange !== exchange || this.finished) return;
    if (this.clientEnded && this.buffered.length === 0) this.upstream?.end();
    if (this.buffered.length === 0 && this.socket.isPaused()) this.socket.resume();
  }

  private toUpstream(bytes: Buffer): void {
    const upstream = this.upstream;
    if (!upstream || bytes.length === 0) return;
    if (!upstream.write(bytes)) {
      this.socket.pause();
      upstream.once('drain', () => this.exchange && this.socket.resume());
    }
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (!this.exchange) return this.buffered.length === 0 ? this.endBoth() : undefined;
    // The FIN passes on after the request's bytes (send() does it once the stream is open); the answer still comes.
    if (this.buffered.length === 0) this.upstream?.end();
  }

  // ---- upstream side ----

  private attachUpstream(upstream: Duplex): void {
    this.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => upstream === this.upstream && this.fromUpstream(chunk));
    onPeerEnd(upstream, () => upstream === this.upstream && this.onUpstreamEnd());
    upstream.on('error', (error) => upstream === this.upstream && this.upstreamFailed(error));
    upstream.on('close', () => upstream === this.upstream && this.upstreamFailed(new Error('the destination connection closed')));
  }

  private fromUpstream(chunk: Buffer): void {
    const exchange = this.exchange;
    if (!exchange) return this.dropUpstream(true);
    // What leaves for the client from this chunk leaves in one write (at the end); a head and
    // the body bytes after it are one buffer from the start (startResponse).
    this.collecting = true;
    let at = 0;
    try {
      while (at < chunk.length && this.exchange === exchange) {
        if (!exchange.response) {
          if (at > 0) chunk = chunk.subarray(at);
          at = 0;
          if (exchange.responseHead.length > 0) chunk = Buffer.concat([exchange.responseHead, chunk]);
          const end = headEnd(chunk);
          if (end === -1) {
            if (chunk.length > MAX_RESPONSE_HEAD_BYTES) throw new FramingError('the response head is too large');
            exchange.responseHead = chunk;
            return;
          }
          exchange.responseHead = EMPTY;
          at = this.startResponse(exchange, chunk, end);
          continue;
        }
        const n = exchange.response.take(chunk, at);
        this.toClient(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
        at += n;
        if (exchange.response.done) this.responseDone(exchange, at < chunk.length);
      }
    } catch (error) {
      this.upstreamFailed(error as Error);
    } finally {
      this.flushToClient();
    }
  }

  /**
   * Passes on the response head in bytes[0, end) with the body bytes after it in `bytes`, as one
   * buffer; returns where in `bytes` what it took ends.
   */
  private startResponse(exchange: Exchange, bytes: Buffer, end: number): number {
    const response = parseResponseHead(bytes, end);
    if (response.status === 101) throw new FramingError('the destination switched protocols unasked');
    const informational = response.status < 200;
    const framing = responseFraming(exchange.method, response);
    exchange.headSent = true;
    if (informational) {
      this.toClient(rewriteHead(response, undefined, '', ''));
      return end;
    }
    const keep = exchange.keepAlive && framing.kind !== 'close';
    exchange.keepAlive = keep;
    if (connectionHas(response, 'close')) this.origin = '';
    const body = new BodyCounter(framing);
    exchange.response = body;
    const n = body.take(bytes, end);
    this.toClient(rewriteHead(response, undefined, '', keep ? 'connection: keep-alive\r\n' : 'connection: close\r\n', false, n > 0 ? { bytes, start: end, end: end + n } : undefined));
    if (body.done) this.responseDone(exchange, end + n < bytes.length);
    return end + n;
  }

  private toClient(bytes: Buffer): void {
    if (bytes.length === 0 || this.finished) return;
    if (this.collecting) this.outgoing.push(bytes);
    else this.write(bytes);
  }

  private flushToClient(): void {
    if (!this.collecting) return;
    this.collecting = false;
    const outgoing = this.outgoing;
    if (outgoing.length === 0) return;
    const bytes = outgoing.length === 1 ? outgoing[0] : Buffer.concat(outgoing);
    outgoing.length = 0;
    if (!this.finished) this.write(bytes);
  }

  private write(bytes: Buffer): void {
    if (!this.socket.write(bytes)) {
      const upstream = this.upstream;
      upstream?.pause();
      this.socket.once('drain', () => upstream?.resume());
    }
  }

  private responseDone(exchange: Exchange, extraBytes: boolean): void {
    this.exchange = undefined;
    // Bytes past the answer, or a request body still coming: this upstream is not reusable.
    if (extraBytes || !exchange.request.done || this.origin === '') this.dropUpstream(!exchange.request.done || extraBytes);
    if (!exchange.keepAlive || !exchange.request.done || this.host.closing || (this.clientEnded && this.buffered.length === 0)) return this.endBoth();
    this.awaitHead(this.host.keepAliveIdleMs, true);
    if (this.socket.isPaused()) this.socket.resume();
    this.readHead();
  }

  private onUpstreamEnd(): void {
    const exchange = this.exchange;
    if (!exchange) return this.dropUpstream();
    if (exchange.response?.untilClose) {
      exchange.keepAlive = false;
      return this.responseDone(exchange, false);
    }
    this.upstreamFailed(new Error('the destination closed before its answer was complete'));
  }

  private upstreamFailed(error: Error): void {
    const exchange = this.exchange;
    const upstream = this.upstream;
    this.upstream = undefined;
    this.origin = '';
    if (upstream && !upstream.destroyed) reset(upstream);
    if (!exchange) return;
    log.info('!! %s %s', this.idOf(exchange), error.message);
    if (exchange.headSent) return this.resetClient();
    this.exchange = undefined;
    this.respondAndClose(502, `tp proxy: the destination broke the exchange: ${error.message}\n`);
  }

  private dialFailed(exchange: Exchange, error: DialError): void {
    log.info('!! %s %s: %s', this.idOf(exchange), error.code, error.message);
    if (this.finished) return;
    this.exchange = undefined;
    this.origin = '';
    this.respondAndClose(httpStatusFor(error), httpFailureText(error));
  }

  // ---- the connection's end ----

  /**
   * Starts the wait for a head: its deadline, or between requests the idle limit. One timer per
   * connection, re-armed only when it fires early, so a request costs no timer of its own.
   */
  private awaitHead(ms: number, idle = false): void {
    this.idle = idle;
    this.deadline = Date.now() + ms;
    if (!this.timer) this.armTimer(ms);
  }

  private armTimer(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.finished || this.deadline === Infinity) return;
      const left = this.deadline - Date.now();
      if (left > 0) return this.armTimer(left);
      if (this.idle) return this.endBoth();
      this.refuse(408, `tp proxy: the request head did not arrive within ${this.host.headDeadlineMs} ms\n`);
    }, ms);
  }

  private giveAway(): void {
    clearTimeout(this.timer);
    this.dropUpstream();
    this.socket.off('data', this.onData);
    this.finished = true;
    const bytes = this.buffered;
    this.buffered = EMPTY;
    this.host.handOver(this.socket, bytes);
  }

  private refuse(status: number, body: string): void {
    this.exchange = undefined;
    this.respondAndClose(status, body);
  }

  private respondAndClose(status: number, body: string): void {
    if (this.finished) return;
    this.dropUpstream();
    this.finish();
    endRaw(this.socket, status, body);
  }

  private resetClient(): void {
    this.finish();
    reset(this.socket);
  }

  private endBoth(): void {
    if (this.finished) return;
    this.flushToClient();
    this.dropUpstream();
    this.finish();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), this.host.keepAliveIdleMs).unref();
  }

  private dropUpstream(abrupt = false): void {
    const upstream = this.upstream;
    this.upstream = undefined;
    this.origin = '';
    if (!upstream) return;
    if (abrupt) reset(upstream);
    else upstream.end();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.socket.off('data', this.onData);
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream && !upstream.destroyed) reset(upstream);
  }
}

const EMPTY = Buffer.alloc(0);
/** A request without a body: done from the start, so one serves every such request. */
const NO_BODY = new BodyCounter({ kind: 'length', length: 0 });

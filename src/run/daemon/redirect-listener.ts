// The daemon's end of the LD_PRELOAD shim's connect() redirect: a TCP listener on 127.0.0.1 that
// the shim connects cluster-bound sockets to, and a UDP hand-over socket on 127.0.0.1 where the
// shim first says where each one was meant to go, as one datagram
// "<token> <laptopPort> <host> <port>" (fire and forget, so the shim's connect() never waits on
// us). An accepted connection from 127.0.0.1 is matched to its hand-over by its source port (a
// hand-over is claimed once; other source addresses are reset); when the datagram
// is late the connection waits for it briefly. Then the target is routed and dialled like a SOCKS
// request and the two are piped; a failed dial resets the connection (the program sees
// ECONNRESET, as close to "refused" as a connection that already succeeded can get).
// The token (from the 0600 routes file) keeps other local users from steering connections.
// Node has no unix datagram sockets, hence UDP on loopback. Leaves out UDP traffic and the
// routes file (routes-file.ts).
import { timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { logger } from '../../log/logger.js';
import { TpError } from '../../errors.js';
import { closeGracefully, ConnectionSet } from '../../net/connection-set.js';
import { toDialError, type Dial, type DialTarget } from '../../proxy/dial.js';
import { ConnectionCap, MAX_PROXY_CONNECTIONS } from '../../proxy/limits.js';
import { pipeBothWays } from '../../net/pipe.js';
import type { OwnerGate } from '../../proxy/owner-gate.js';
import type { RouteDecision, RouteTarget } from '../../proxy/routing.js';

const log = logger('tp:daemon:redirect');

/** A hand-over datagram is never longer than this (token, two ports, an IPv6 address or a name). */
export const MAX_HANDOVER_BYTES = 512;
export const DEFAULT_HANDOVER_WAIT_MS = 2_000;
export const DEFAULT_HANDOVER_TTL_MS = 10_000;
export const DEFAULT_MAX_PENDING_HANDOVERS = 4_096;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
const MAX_PORT = 65_535;

export interface Handover {
  laptopPort: number;
  target: DialTarget;
}

export class HandoverError extends TpError {
  constructor(message: string) {
    super('TP_ERR_BAD_HANDOVER', message);
  }
}

/** Parses and authenticates one hand-over datagram; throws HandoverError on anything else. */
export function parseHandover(datagram: Buffer, token: string): Handover {
  if (datagram.length > MAX_HANDOVER_BYTES) throw new HandoverError(`hand-over of ${datagram.length} bytes is longer than ${MAX_HANDOVER_BYTES}`);
  const fields = datagram.toString('latin1').trim().split(' ');
  if (fields.length !== 4) throw new HandoverError('hand-over does not have 4 fields');
  const [given, laptopPort, host, port] = fields;
  const expected = Buffer.from(token);
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new HandoverError('hand-over with a wrong token');
  const parsedLaptopPort = parsePort(laptopPort);
  const parsedPort = parsePort(port);
  // The shims send an IP literal or a DNS name: printable ASCII. Anything else would reach routing and the log.
  if (parsedLaptopPort === undefined || parsedPort === undefined || !/^[\x21-\x7e]+$/.test(host)) throw new HandoverError('hand-over with a bad port or host');
  return { laptopPort: parsedLaptopPort, target: { host, port: parsedPort } };
}

/** The datagram the shim sends; the tests and the Node preload use it too. */
export function encodeHandover(token: string, handover: Handover): Buffer {
  return Buffer.from(`${token} ${handover.laptopPort} ${handover.target.host} ${handover.target.port}`, 'latin1');
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= MAX_PORT ? port : undefined;
}

export interface RedirectListenerOptions {
  /** The secret a hand-over must carry (hex, from the routes file). */
  token: string;
  route(target: RouteTarget): RouteDecision;
  dial: Dial;
  /** Default 127.0.0.1 for both sockets. */
  host?: string;
  /** How long an accepted connection waits for a late hand-over. Default 2 s. */
  handoverWaitMs?: number;
  /** How long an unclaimed hand-over is kept. Default 10 s. */
  handoverTtlMs?: number;
  /** Unclaimed hand-overs kept at most; the oldest go first. Default 4096. */
  maxPending?: number;
  /** Connections open at once, piped ones included; past it a new one is reset. Default MAX_PROXY_CONNECTIONS. */
  maxConnections?: number;
  closeTimeoutMs?: number;
  /** Who may connect (owner-gate.ts); others are reset before they can claim a hand-over. Default: everyone. */
  gate?: OwnerGate;
}

export interface RedirectAddresses {
  redirectPort: number;
  handoverPort: number;
}

interface Pending {
  target: DialTarget;
  expiresAt: number;
}

export class RedirectListener {
  private readonly server: Server;
  private readonly handoverSocket: UdpSocket;
  private readonly connections = new ConnectionSet();
  private readonly clients: ConnectionCap;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Map<number, (target: DialTarget) => void>();
  private closing: Promise<void> | null = null;
  private nextId = 1;

  constructor(private readonly options: RedirectListenerOptions) {
    this.clients = new ConnectionCap(options.maxConnections ?? MAX_PROXY_CONNECTIONS);
    this.server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
    this.handoverSocket = createSocket('udp4');
    this.handoverSocket.on('message', (datagram, from) => this.receive(datagram, from.address));
    this.handoverSocket.on('error', (error) => log.error('!! hand-over socket error %s', error.message));
  }

  async listen(): Promise<RedirectAddresses> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.handoverSocket.once('error', reject);
      this.handoverSocket.bind(0, host, () => {
        this.handoverSocket.off('error', reject);
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addresses = { redirectPort: (this.server.address() as AddressInfo).port, handoverPort: this.handoverSocket.address().port };
    log.info('listening: redirect %s:%d, hand-over udp %s:%d', host, addresses.redirectPort, host, addresses.handoverPort);
    return addresses;
  }

  /** Stops accepting, lets piped connections finish, destroys what is left after the timeout. */
  close(): Promise<void> {
    this.closing ??= this.shutDown(this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.closing;
  }

  /** Stops accepting and destroys every connection now. */
  destroy(): Promise<void> {
    this.closing ??= this.shutDown(0);
    this.connections.destroyAll();
    return this.closing;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    try {
      this.handoverSocket.close();
    } catch {
      // never bound
    }
    await closeGracefully(this.server, this.connections, timeoutMs);
    this.pending.clear();
  }

  private receive(datagram: Buffer, from: string): void {
    let handover: Handover;
    try {
      handover = parseHandover(datagram, this.options.token);
    } catch (err) {
      log.info('!! dropped a datagram from %s: %s', from, (err as Error).message);
      return;
    }
    const waiter = this.waiters.get(handover.laptopPort);
    if (waiter) {
      this.waiters.delete(handover.laptopPort);
      waiter(handover.target);
      return;
    }
    this.prune();
    this.pending.set(handover.laptopPort, { target: handover.target, expiresAt: Date.now() + (this.options.handoverTtlMs ?? DEFAULT_HANDOVER_TTL_MS) });
  }

  private prune(): void {
    const now = Date.now();
    const max = this.options.maxPending ?? DEFAULT_MAX_PENDING_HANDOVERS;
    for (const [port, entry] of this.pending) {
      if (entry.expiresAt > now && this.pending.size < max) break;
      this.pending.delete(port);
    }
  }

  /** The hand-over for a laptop port: already here, or arriving within the wait. */
  private claim(laptopPort: number): Promise<DialTarget | undefined> {
    const entry = this.pending.get(laptopPort);
    if (entry) {
      this.pending.delete(laptopPort);
      if (entry.expiresAt > Date.now()) return Promise.resolve(entry.target);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(laptopPort);
        resolve(undefined);
      }, this.options.handoverWaitMs ?? DEFAULT_HANDOVER_WAIT_MS);
      this.waiters.set(laptopPort, (target) => {
        clearTimeout(timer);
        resolve(target);
      });
    });
  }

  private accept(socket: Socket): void {
    const id = `r${this.nextId++}`;
    const laptopPort = socket.remotePort ?? 0;
    this.connections.add(socket);
    socket.on('error', (error) => log('!! %s %s', id, error.message));
    // The shim's sockets come from 127.0.0.1, the address its hand-over pairs with; a look-alike
    // source port on another loopback address is someone else's.
    if (socket.remoteAddress !== '127.0.0.1') {
      log.info('!! %s from %s:%d refused: redirected connections come from 127.0.0.1', id, socket.remoteAddress, laptopPort);
      socket.resetAndDestroy();
      return;
    }
    if (!this.clients.admit(socket)) {
      // A reset, as for a failed dial: the program's connect() has already succeeded.
      log('!! %s from 127.0.0.1:%d refused: %d connections open, the most this listener takes', id, laptopPort, this.clients.max);
      socket.resetAndDestroy();
      return;
    }
    // Reading stays paused until the hand-over, so the wait for it is the only deadline needed.
    // Another user's connection is reset before it can claim (and so steal) a hand-over.
    const admitted = this.options.gate?.admitsConnection(socket, 'redirect listener', true) ?? Promise.resolve(true);
    void admitted.then(async (ok) => (ok ? this.claim(laptopPort) : null)).then(async (target) => {
      if (target === null) {
        socket.resetAndDestroy();
        return;
      }
      if (!target) {
        log.info('!! %s from 127.0.0.1:%d: no hand-over arrived', id, laptopPort);
        socket.resetAndDestroy();
        return;
      }
      const decision = this.options.route({ host: target.host, port: target.port });
      log('-> %s %s:%d via %s (%s)', id, target.host, target.port, decision.via, decision.reason);
      try {
        // The DialContext has no "redirect" kind yet; a redirected connection is a CONNECT tunnel in all but name.
        const upstream = await this.options.dial(target, { ...decision, client: `127.0.0.1:${laptopPort}`, protocol: 'connect' });
        if (socket.destroyed) {
          upstream.destroy();
          return;
        }
        socket.resume();
        pipeBothWays(socket, upstream, (error) => (error ? log.info : log)('-- %s %s:%d closed%s', id, target.host, target.port, error ? ` (${error.message})` : ''));
      } catch (err) {
        log.info('!! %s %s', id, toDialError(err, target).message);
        if (!socket.destroyed) socket.resetAndDestroy();
      }
    });
  }
}

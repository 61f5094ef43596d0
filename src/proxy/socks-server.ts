// The laptop's SOCKS5 front door (RFC 1928): CONNECT to domain names, IPv4 and IPv6, with no
// authentication where the owner gate knows who calls, or RFC 1929 username/password where it asks
// for credentials (owner-gate.ts); BIND and UDP ASSOCIATE get reply 0x07. Each request is routed by routing.ts and opened
// with the Dial hook; a failed dial gets its own RFC 1928 §6 reply code. A client that breaks the
// protocol gets an error reply (where the protocol has one) and is closed; the server lives on.
// Bounds (limits.ts): the greeting and request must arrive within a deadline from accept; a
// domain name must pass host-name.ts or gets reply 0x04; past the connection cap a client gets
// reply 0x01 at once.
// Leaves out who may call (owner-gate.ts) and the tunnel (that is the daemon's Dial).
// The parser is hand-written (socks5-protocol.ts says why socksv5 is not used).
import { logger } from '../log/logger.js';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeGracefully, ConnectionSet, listen } from '../net/connection-set.js';
import { createDirectDial, formatTarget, socksReplyFor, SOCKS_REPLY, toDialError, type Dial } from './dial.js';
import { checkHost } from './host-name.js';
import type { OwnerGate } from './owner-gate.js';
import { ConnectionCap, MAX_PROXY_CONNECTIONS, SOCKS_HANDSHAKE_DEADLINE_MS } from './limits.js';
import { pipeBothWays } from '../net/pipe.js';
import { createRoutingTable, decideRoute, type RouteDecision, type RouteTarget } from './routing.js';
import { credentialsMatch } from './door-credentials.js';
import {
  encodeMethodChoice,
  encodeReply,
  encodeUserPassStatus,
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  MAX_USERPASS_BYTES,
  parseGreeting,
  parseRequest,
  parseUserPass,
  Socks5ProtocolError,
  SOCKS_ATYP,
  SOCKS_COMMAND,
  SOCKS_METHOD,
} from './socks5-protocol.js';
import { readMessage } from '../net/stream-reader.js';

const log = logger('tp:proxy:socks');

export interface SocksServerOptions {
  /** The routing decision for a target. Default: routing.ts with a default table. */
  route?: (target: RouteTarget) => RouteDecision;
  /** Opens the outbound connection. Default: direct TCP. */
  dial?: Dial;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the system picks. */
  port?: number;
  /** A client must finish greeting and request within this time of connecting. Default SOCKS_HANDSHAKE_DEADLINE_MS. */
  handshakeTimeoutMs?: number;
  /** Client connections open at once, established ones included. Default MAX_PROXY_CONNECTIONS. */
  maxConnections?: number;
  /** close() waits this long for connections to finish before destroying them. Default 5 s. */
  closeTimeoutMs?: number;
  /** Who may use this door (owner-gate.ts). Default: everyone. */
  gate?: OwnerGate;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** How long a refused client has to read its reply before the connection is destroyed. */
const REFUSAL_GRACE_MS = 1_000;

export class SocksServer {
  private readonly server: Server;
  private readonly connections = new ConnectionSet();
  private readonly clients: ConnectionCap;
  private readonly route: (target: RouteTarget) => RouteDecision;
  private readonly dial: Dial;
  private readonly options: SocksServerOptions;
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(options: SocksServerOptions = {}) {
    this.options = options;
    this.clients = new ConnectionCap(options.maxConnections ?? MAX_PROXY_CONNECTIONS);
    const defaultTable = options.route ? undefined : createRoutingTable();
    this.route = options.route ?? ((target) => decideRoute(target, defaultTable!));
    this.dial = options.dial ?? createDirectDial();
    // allowHalfOpen: a client that shuts its write side still gets the destination's answer.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const address = await listen(this.server, this.options.port, this.options.host);
    log.info('listening on %s:%d', address.address, address.port);
    return address;
  }

  /** Stops accepting, lets open connections finish, destroys what is left after the timeout. */
  close(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.closing;
  }

  /** Stops accepting and destroys every connection now. */
  destroy(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, 0);
    this.connections.destroyAll();
    return this.closing;
  }

  private accept(socket: Socket): void {
    const id = `s${this.nextId++}`;
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    this.connections.add(socket);
    socket.on('error', (error) => log('!! %s client error %s', id, error.message));
    if (!this.clients.admit(socket)) {
      log.info('!! %s %s refused: %d connections open, the most this listener takes', id, client, this.clients.max);
      this.refuse(socket);
      return;
    }
    const deadlineMs = this.options.handshakeTimeoutMs ?? SOCKS_HANDSHAKE_DEADLINE_MS;
    const timer = setTimeout(() => {
      log.info('!! %s handshake not complete after %d ms; closing', id, deadlineMs);
      socket.destroy();
    }, deadlineMs);
    this.handle(socket, id, client, () => clearTimeout(timer))
      .catch((error: unknown) => this.fail(socket, id, error))
      .finally(() => clearTimeout(timer));
  }

  /**
   * Over the cap: the method choice and a general-failure reply (RFC 1928 §6, 0x01 "general SOCKS
   * server failure") go out at once, without reading the greeting, so a refused client costs
   * nothing while it reads them; what it sends is discarded.
   */
  private refuse(socket: Socket): void {
    socket.resume();
    endWith(socket, Buffer.concat([encodeMethodChoice(SOCKS_METHOD.NO_AUTH), encodeReply(SOCKS_REPLY.GENERAL_FAILURE)]));
  }

  /** `handshakeDone` stops the deadline: the dial that follows has its own timeout. */
  private async handle(socket: Socket, id: string, client: string, handshakeDone: () => void): Promise<void> {
    // The owner check runs while the handshake goes on, and is waited for only before anything is
    // dialled: it costs a round trip to another process, which would otherwise sit on every
    // connection's critical path before the method choice. A gate that fails refuses; caught here,
    // its failure is no unhandled rejection if the handshake ends first.
    const admitted = Promise.resolve(this.options.gate?.admitsConnection(socket, 'SOCKS5 proxy', true) ?? true).catch(() => false);
    const greeting = await readMessage(socket, parseGreeting, { maxBytes: MAX_GREETING_BYTES, what: 'SOCKS5 greeting' });
    const credentials = this.options.gate?.credentials;
    const method = credentials ? SOCKS_METHOD.USERNAME_PASSWORD : SOCKS_METHOD.NO_AUTH;
    if (!greeting.message.methods.includes(method)) {
      log.info('!! %s client offers no method we accept (%o)%s', id, greeting.message.methods, credentials ? '; this door needs the username and password `tp connect` prints' : '');
      endWith(socket, encodeMethodChoice(SOCKS_METHOD.NO_ACCEPTABLE));
      return;
    }
    socket.write(encodeMethodChoice(method));
    let afterAuth = greeting.rest;
    if (credentials) {
      const login = await readMessage(socket, parseUserPass, { maxBytes: MAX_USERPASS_BYTES, what: 'SOCKS5 username/password', initial: greeting.rest });
      const ok = credentialsMatch(credentials, login.message.username, login.message.password);
      if (!ok) {
        log.info('!! %s %s refused: wrong username or password', id, client);
        endWith(socket, encodeUserPassStatus(false));
        return;
      }
      socket.write(encodeUserPassStatus(true));
      afterAuth = login.rest;
    }
    const { message: request, rest } = await readMessage(socket, parseRequest, {
      maxBytes: MAX_REQUEST_BYTES,
      what: 'SOCKS5 request',
      initial: afterAuth,
    });
    handshakeDone();
    if (!(await admitted)) {
      // Another user's client: method negotiation succeeded and the request gets 0x02 "connection not
      // allowed by ruleset", which curl and browsers report as a refusal rather than a broken proxy.
      // Nothing was dialled and nothing will be.
      endWith(socket, encodeReply(SOCKS_REPLY.NOT_ALLOWED));
      return;
    }
    if (request.command !== SOCKS_COMMAND.CONNECT) {
      log.info('!! %s command 0x%s not supported', id, request.command.toString(16));
      endWith(socket, encodeReply(SOCKS_REPLY.COMMAND_NOT_SUPPORTED));
      return;
    }
    if (request.addressType === SOCKS_ATYP.DOMAIN) {
      const check = checkHost(request.host);
      if (!check.ok) {
        // 0x04 "host unreachable", as for a name that does not resolve: no such host can exist.
        // Clients read it as a problem with the destination, not the proxy: Chromium's
        // CanFalloverToNextProxy keeps the proxy for 0x04 but marks it bad and falls over to
        // the next PAC entry on 0x01, which would take every later request away from tp.
        log.info('!! %s refused a bad host name: %s', id, check.why);
        endWith(socket, encodeReply(SOCKS_REPLY.HOST_UNREACHABLE));
        return;
      }
    }
    const target = { host: request.host, port: request.port };
    const decision = this.route(target);
    log('-> %s %s CONNECT %s via %s (%s)', id, client, formatTarget(target), decision.via, decision.reason);
    let upstream: Duplex;
    try {
      upstream = await this.dial(target, { ...decision, client, protocol: 'socks' });
    } catch (error) {
      const dialError = toDialError(error, target);
      log.info('!! %s %s: %s', id, dialError.code, dialError.message);
      endWith(socket, encodeReply(socksReplyFor(dialError)));
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    this.connections.add(upstream);
    const bound = boundAddress(upstream);
    socket.write(encodeReply(SOCKS_REPLY.SUCCEEDED, bound));
    if (rest.length > 0) upstream.write(rest);
    log('<- %s connected', id);
    pipeBothWays(socket, upstream, (error) => (error ? log.info : log)('-- %s %s closed%s', id, formatTarget(target), error ? ` (${error.message})` : ''));
  }

  private fail(socket: Socket, id: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    log.info('!! %s %s', id, message);
    if (socket.destroyed) return;
    endWith(socket, error instanceof Socks5ProtocolError && error.reply !== undefined ? encodeReply(error.reply) : undefined);
  }
}

/** Sends a last reply and ends; a client that never reads it or never closes is dropped after a grace. */
function endWith(socket: Socket, reply: Buffer | undefined): void {
  if (reply) socket.end(reply);
  else socket.end();
  setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
}

/** The local address of a real socket (RFC 1928 BND.ADDR), or 0.0.0.0:0 for other streams. */
function boundAddress(upstream: Duplex): { host: string; port: number } | undefined {
  const socket = upstream as Partial<Socket>;
  if (typeof socket.localAddress === 'string' && typeof socket.localPort === 'number') {
    return { host: socket.localAddress, port: socket.localPort };
  }
  return undefined;
}

// The daemon's end of `tp run --netns`: a Unix socket (0600, in the user's 0700 runtime dir, so
// only the user reaches it, from any network namespace) where the capture relay (shims/relay)
// hands over each connection the namespace's nftables rules redirected to it. The relay says
// where the connection was going in one header line, "tp-capture 1 <ipv4> <port>\n" or
// "tp-capture 1 dns 53\n" (the namespace's resolver: the daemon's DNS stub over TCP); the target
// is routed and dialled like a SOCKS request, the relay hears 'O' (dialled) or 'R' (refused: it
// resets its client), and the two are piped with the framing of src/capture/frames.ts.
// Leaves out the namespace itself (src/capture) and the relay (shims/relay).
import { rmSync } from 'node:fs';
import { listenPrivately } from './private-socket.js';
import { connect, createServer, isIPv4, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../../log/logger.js';
import { closeGracefully, ConnectionSet } from '../../net/connection-set.js';
import { pipeBothWays } from '../../net/pipe.js';
import { toDialError, type Dial, type DialTarget } from '../../proxy/dial.js';
import { ConnectionCap, MAX_PROXY_CONNECTIONS } from '../../proxy/limits.js';
import type { RouteDecision, RouteTarget } from '../../proxy/routing.js';
import { FramedStream } from '../../capture/frames.js';

const log = logger('tp:daemon:capture');

/** "tp-capture 1 " + an IPv4 address or "dns" + a port + "\n" is never longer than this. */
export const MAX_CAPTURE_HEADER_BYTES = 64;
const HEADER_DEADLINE_MS = 10_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

export type CaptureTarget = { kind: 'dns' } | { kind: 'tcp'; target: DialTarget };

/** Parses the relay's header line (without its newline); undefined for anything else. */
export function parseCaptureHeader(line: string): CaptureTarget | undefined {
  const match = /^tp-capture 1 (\S{1,15}) (\d{1,5})$/.exec(line);
  if (!match) return undefined;
  const [, host, portText] = match;
  const port = Number(portText);
  if (host === 'dns') return port === 53 ? { kind: 'dns' } : undefined;
  if (!isIPv4(host) || port < 1 || port > 65_535) return undefined;
  return { kind: 'tcp', target: { host, port } };
}

export interface CaptureListenerOptions {
  socketPath: string;
  route(target: RouteTarget): RouteDecision;
  dial: Dial;
  /** The DNS stub's TCP port on 127.0.0.1. */
  dnsPort: number;
  maxConnections?: number;
  closeTimeoutMs?: number;
}

export class CaptureListener {
  private readonly server: Server;
  private readonly connections = new ConnectionSet();
  private readonly clients: ConnectionCap;
  private closing: Promise<void> | null = null;
  private nextId = 1;

  constructor(private readonly options: CaptureListenerOptions) {
    this.clients = new ConnectionCap(options.maxConnections ?? MAX_PROXY_CONNECTIONS);
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
  }

  async listen(): Promise<void> {
    await listenPrivately(this.server, this.options.socketPath);
    log.info('listening on %s', this.options.socketPath);
  }

  close(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS).finally(() =>
      rmSync(this.options.socketPath, { force: true }),
    );
    return this.closing;
  }

  private accept(socket: Socket): void {
    const id = `c${this.nextId++}`;
    this.connections.add(socket);
    socket.on('error', (error) => log('!! %s %s', id, error.message));
    if (!this.clients.admit(socket)) {
      log('!! %s refused: %d connections open, the most this listener takes', id, this.clients.max);
      socket.end('R');
      return;
    }
    socket.setTimeout(HEADER_DEADLINE_MS, () => socket.destroy());
    let header = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      header = Buffer.concat([header, chunk]);
      const newline = header.indexOf(0x0a);
      if (newline < 0) {
        if (header.length > MAX_CAPTURE_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      const rest = header.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      const target = parseCaptureHeader(header.subarray(0, newline).toString('latin1'));
      if (!target) {
        log.info('!! %s: not a capture header', id);
        socket.end('R');
        return;
      }
      void this.connect(id, target).then(
        (upstream) => this.join(id, socket, upstream),
        (err: Error) => {
          log.info('!! %s %s', id, err.message);
          socket.end('R');
        },
      );
    };
    socket.on('data', onData);
  }

  private async connect(id: string, target: CaptureTarget): Promise<Duplex> {
    if (target.kind === 'dns') return connectLocal(this.options.dnsPort);
    const decision = this.options.route(target.target);
    log('-> %s %s:%d via %s (%s)', id, target.target.host, target.target.port, decision.via, decision.reason);
    try {
      return await this.options.dial(target.target, { ...decision, client: `capture ${id}`, protocol: 'connect' });
    } catch (err) {
      throw toDialError(err, target.target);
    }
  }

  private join(id: string, socket: Socket, upstream: Duplex): void {
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    socket.write('O');
    const framed = new FramedStream(socket);
    pipeBothWays(framed, upstream, (error) => (error ? log.info : log)('-- %s closed%s', id, error ? ` (${error.message})` : ''));
  }
}

function connectLocal(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

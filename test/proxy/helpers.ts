// Test fixtures for the proxy tests: small local HTTP servers that say who they are (so a test
// can tell a "cluster" answer from a "direct" one), a Dial hook that sends cluster-routed targets
// to the "cluster" server, and a raw TCP client for feeding protocol bytes.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import { connectTcp, type Dial, type DialContext, type DialTarget } from '../../src/proxy/dial.js';
import { refusedPort } from '../helpers/refused-port.js';
import { waitFor } from '../helpers/wait-for.js';

export interface LabelledServer {
  port: number;
  /** Every request seen: method, url, headers. */
  requests: IncomingMessage[];
  /** The remote ports of the TCP connections accepted, in order. */
  connections: number[];
}

/** An HTTP server answering `<label> <method> <host><url>`; closed at teardown. */
export async function startLabelledServer(t: ExecutionContext, label: string, host = '127.0.0.1'): Promise<LabelledServer> {
  const requests: IncomingMessage[] = [];
  const connections: number[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request);
    response.setHeader('content-type', 'text/plain');
    response.end(`${label} ${request.method} ${request.headers.host ?? ''}${request.url}\n`);
  });
  server.on('connection', (socket: Socket) => connections.push(socket.remotePort ?? 0));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, requests, connections };
}

export interface RecordedDial {
  dial: Dial;
  calls: { target: DialTarget; context: DialContext }[];
}

/** A Dial that connects cluster-routed targets to the "cluster" server's port, others directly. */
export function clusterDial(clusterPort: number): RecordedDial {
  const calls: RecordedDial['calls'] = [];
  const dial: Dial = (target, context) => {
    calls.push({ target, context });
    if (context.via === 'cluster') return connectTcp({ host: '127.0.0.1', port: clusterPort });
    return connectTcp(target);
  };
  return { dial, calls };
}

/** A port with nothing listening on it, that no other test can take (refused-port.ts). */
export const closedPort = refusedPort;

/** Opens a raw TCP connection and collects everything it receives until it closes. */
export async function rawExchange(port: number, chunks: Buffer[], options: { pauseMs?: number } = {}): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  for (const chunk of chunks) {
    socket.write(chunk);
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  const timer = setTimeout(() => socket.destroy(), 5_000);
  await closed;
  clearTimeout(timer);
  return Buffer.concat(received);
}

export interface TrickleResult {
  /** Bytes written before the server closed the connection. */
  sent: number;
  received: Buffer;
  /** From just before connecting to the close: never less than a deadline the server started at accept. */
  elapsedMs: number;
  /** False when the helper gave up waiting (`giveUpMs` after the last byte) and closed it itself. */
  closedByServer: boolean;
}

/**
 * A slow client: connects to a TCP port on 127.0.0.1 (or a Unix socket path), writes `bytes` one
 * at a time, the first at once and then one every `intervalMs`, and resolves when the server
 * closes the connection, or `giveUpMs` after the last byte.
 */
export async function trickle(to: number | string, bytes: Buffer, intervalMs: number, giveUpMs = 10_000): Promise<TrickleResult> {
  const started = Date.now();
  const socket = typeof to === 'number' ? connect({ host: '127.0.0.1', port: to }) : connect(to);
  socket.on('error', () => undefined);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  let sent = 0;
  let closedByServer = true;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const next = (): void => {
    if (socket.destroyed || socket.writableEnded) return;
    if (sent === bytes.length) {
      timer = setTimeout(() => {
        closedByServer = false;
        socket.destroy();
      }, giveUpMs);
      return;
    }
    socket.write(bytes.subarray(sent, sent + 1));
    sent += 1;
    timer = setTimeout(next, intervalMs);
  };
  socket.once('connect', next);
  await closed;
  clearTimeout(timer);
  return { sent, received: Buffer.concat(received), elapsedMs: Date.now() - started, closedByServer };
}

/** Opens a TCP connection to 127.0.0.1 and resolves once connected; destroyed at teardown. */
export async function openConnection(t: ExecutionContext, port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/**
 * Closes `held` (a connection filling the server's cap) and retries `request` until it is served:
 * the listener sees the close a moment after the client does. Returns what `request` gave.
 */
export async function servedOnceClosed<T>(held: Socket, request: () => Promise<T>): Promise<T> {
  const closed = new Promise((resolve) => held.once('close', resolve));
  held.destroy();
  await closed;
  return waitFor('a free connection slot', request, 10_000, 100);
}

// Fixtures for the HTTP proxy's byte-level tests (http-forward, http-smuggling): a raw TCP origin
// that answers exactly as each test says and records every byte it receives, a proxy whose
// cluster routes reach it, and a raw client that writes bytes and collects the answer.
import type { ExecutionContext } from 'ava';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { HttpProxyServer } from '../../src/proxy/http-proxy.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { clusterDial } from './helpers.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'] });

export interface Origin {
  port: number;
  /** Bytes each accepted connection received, by connection. */
  received: Buffer[][];
}

/** A TCP origin: `answer(socket, bytesSoFar)` is called on every chunk a connection receives. */
export async function startOrigin(t: ExecutionContext, answer: (socket: Socket, received: Buffer) => void): Promise<Origin> {
  const received: Buffer[][] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    received.push(chunks);
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      answer(socket, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, received };
}

/** What the origin received, connection after connection, as text. */
export function receivedText(origin: Origin): string {
  return origin.received.map((chunks) => Buffer.concat(chunks).toString('latin1')).join('');
}

/** An HTTP proxy whose cluster-routed targets (web.team-a…) reach `originPort`; destroyed at teardown. */
export async function startProxy(t: ExecutionContext, originPort: number): Promise<{ port: number; dials: () => number }> {
  const dial = clusterDial(originPort);
  const proxy = new HttpProxyServer({ route: (target) => decideRoute(target, table), dial: dial.dial });
  t.teardown(() => proxy.destroy());
  return { port: (await proxy.listen()).port, dials: () => dial.calls.length };
}

export interface Outcome {
  text: string;
  error?: string;
}

/** Writes `chunks` (an `end` marker half-closes), collects the answer until the proxy closes or `until` matches. */
export async function exchange(port: number, chunks: (string | 'end')[], until?: RegExp): Promise<Outcome> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let text = '';
  return new Promise((resolve) => {
    const finish = (error?: string): void => {
      socket.destroy();
      resolve({ text, error });
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (until?.test(text)) finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code));
    socket.on('close', () => finish());
    socket.on('end', () => socket.end());
    socket.once('connect', () => {
      for (const chunk of chunks) {
        if (chunk === 'end') socket.end();
        else socket.write(chunk);
      }
    });
  });
}

// Shared fixtures for the tunnel tests: session pairs over the in-memory transport, an echo
// acceptor, and helpers to read a stream to its end.
import type { Readable } from 'node:stream';
import { createMemoryTransportPair } from '../../src/tunnel/memory-transport.js';
import { Session, type SessionOptions } from '../../src/tunnel/session.js';

export type PairOptions = Omit<SessionOptions, 'role'>;

export function memorySessions(clientOptions: PairOptions = {}, serverOptions: PairOptions = clientOptions): { client: Session; server: Session } {
  const { client: clientTransport, server: serverTransport } = createMemoryTransportPair();
  const client = new Session(clientTransport, { ...clientOptions, role: 'client', id: 'c' });
  const server = new Session(serverTransport, { ...serverOptions, role: 'server', id: 's' });
  return { client, server };
}

/** Makes `session` accept every open and echo what it reads, half-closing when the opener does. */
export function acceptEcho(session: Session): void {
  session.on('stream', (open) => {
    const stream = open.accept();
    stream.pipe(stream);
    stream.on('error', () => {});
  });
}

/** Reads to 'end' without destroying the stream (a for-await loop would destroy a Duplex). */
export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (value: T) => resolve(value)));
}

/** Waits until `condition` holds or `timeoutMs` passes (the caller then asserts it). */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

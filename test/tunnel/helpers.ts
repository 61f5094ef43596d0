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

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (value: T) => resolve(value)));
}

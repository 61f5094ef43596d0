// An in-memory Transport pair for tests: what one side sends arrives at the other on a later turn
// of the event loop, with bufferedAmount and drain behaving like a real transport's. It leaves out
// latency and bandwidth limits. Used by the tunnel's own tests and by higher layers' unit tests.
import type { Transport, TransportHandler } from './transport.js';

class MemoryTransport implements Transport {
  peer: MemoryTransport | null = null;
  bufferedAmount = 0;
  private handler: TransportHandler | null = null;
  private early: Buffer[] = [];
  private closed = false;

  constructor(readonly label: string) {}

  send(data: Buffer): void {
    if (this.closed) return;
    const copy = Buffer.from(data);
    this.bufferedAmount += copy.length;
    setImmediate(() => {
      this.bufferedAmount -= copy.length;
      // Like TCP, bytes sent before close() still arrive.
      this.peer?.receive(copy);
      this.handler?.drain();
    });
  }

  attach(handler: TransportHandler): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const data of early) handler.message(data);
  }

  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => {
      this.handler?.close(error);
      this.peer?.remoteClosed();
    });
  }

  private receive(data: Buffer): void {
    if (this.closed) return;
    if (this.handler) this.handler.message(data);
    else this.early.push(data);
  }

  private remoteClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler?.close(new Error('the peer closed the in-memory transport'));
  }
}

/** Two connected transports: what `client` sends, `server` receives, and the other way round. */
export function createMemoryTransportPair(): { client: Transport; server: Transport } {
  const client = new MemoryTransport('memory:client');
  const server = new MemoryTransport('memory:server');
  client.peer = server;
  server.peer = client;
  return { client, server };
}

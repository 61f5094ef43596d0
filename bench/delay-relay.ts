// A userspace stand-in for a wide-area link, since these machines have no `tc netem`: a TCP relay
// on 127.0.0.1 that forwards every connection to a target and holds each direction's bytes for a
// fixed one-way delay before writing them on. Each direction is a timed queue (bytes stamped with
// the time they may leave, one timer for the head), not a sleep per read, so the link adds latency
// without limiting bandwidth: what a path gets through it is bounded by its windows over the round
// trip (2 × delay), the way a real link bounds it. Ends and resets travel in order behind the data.
// A queue over QUEUE_CAP bytes pauses its reader (a router's buffer), which only happens when the
// far side stops reading. With a rate (Mbit/s) the relay is also a bottleneck link: every
// connection's bytes in one direction leave one after another at that rate, in the order they
// came, so what senders keep in flight beyond the path's bandwidth × delay waits in the link's
// queue, as it would in a router's or a Wi-Fi card's buffer. That buffer has no size of its own
// (only QUEUE_CAP per connection and direction): nothing is dropped, so a sender that keeps more
// in flight is slowed by nothing but its own window. Leaves out loss and jitter.
//   tsx bench/delay-relay.ts <delay-ms> <target-host:port> [Mbit/s]   prints {"port": n} when listening
// Used by bench/wan.ts.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const QUEUE_CAP = 256 * 1024 * 1024;

type Item = { at: number; chunk: Buffer } | { at: number; end: 'fin' | 'reset' };

/** One direction of the link, shared by every connection through the relay. */
class Link {
  private freeAt = 0;

  constructor(private readonly bitsPerSecond: number | undefined) {}

  /** When `bytes` that arrive now have left the link (its queue, then its rate); now without a rate. */
  crossed(now: number, bytes: number): number {
    if (!this.bitsPerSecond) return now;
    this.freeAt = Math.max(now, this.freeAt) + (bytes * 8 * 1000) / this.bitsPerSecond;
    return this.freeAt;
  }
}

/** One direction: bytes read from `from` leave for `to` delayMs later. */
class DelayedDirection {
  private readonly queue: Item[] = [];
  private head = 0;
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delayMs: number,
    link: Link,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.push({ at: link.crossed(performance.now(), chunk.length) + delayMs, chunk });
      this.queued += chunk.length;
      if (this.queued > QUEUE_CAP) from.pause();
    });
    from.on('end', () => this.push({ at: performance.now() + delayMs, end: 'fin' }));
    from.on('error', () => undefined);
    from.on('close', (hadError) => {
      if (hadError || !from.readableEnded) this.push({ at: performance.now() + delayMs, end: 'reset' });
    });
    to.on('drain', () => this.flush());
  }

  private push(item: Item): void {
    if (this.finished) return;
    if ('end' in item) this.finished = true;
    this.queue.push(item);
    if (this.queue.length - this.head !== 1 || this.to.writableNeedDrain) return;
    if (this.queue[this.head]!.at <= performance.now()) this.flush();
    else this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    const next = this.queue[this.head];
    if (next) this.timer = setTimeout(() => this.flush(), Math.max(0, next.at - performance.now()));
  }

  private flush(): void {
    const now = performance.now();
    while (this.head < this.queue.length && this.queue[this.head]!.at <= now) {
      const item = this.queue[this.head++]!;
      if ('end' in item) {
        if (item.end === 'fin') this.to.end();
        else this.to.resetAndDestroy();
        continue;
      }
      this.queued -= item.chunk.length;
      const more = this.to.write(item.chunk);
      if (this.queued <= QUEUE_CAP && this.from.isPaused()) this.from.resume();
      if (!more) break; // 'drain' flushes the rest: the queue never runs ahead of the far socket
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (!this.to.writableNeedDrain) this.arm();
  }
}

export interface DelayRelay {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (an ephemeral port) and relays to target with delayMs each way, and at most `mbps` each way when given. */
export async function startDelayRelay(delayMs: number, target: { host: string; port: number }, mbps?: number): Promise<DelayRelay> {
  const sockets = new Set<Socket>();
  const bitsPerSecond = mbps && mbps * 1e6;
  const up = new Link(bitsPerSecond);
  const down = new Link(bitsPerSecond);
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    new DelayedDirection(client, upstream, delayMs, up);
    new DelayedDirection(upstream, client, delayMs, down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [delayText, target, mbpsText] = process.argv.slice(2);
  const delayMs = Number(delayText);
  const [host, portText] = (target ?? '').split(':');
  const mbps = mbpsText === undefined ? undefined : Number(mbpsText);
  if (!Number.isFinite(delayMs) || delayMs < 0 || !host || !Number(portText) || (mbps !== undefined && !(mbps > 0))) {
    console.error('usage: tsx bench/delay-relay.ts <delay-ms> <target-host:port> [Mbit/s]');
    process.exit(2);
  }
  const relay = await startDelayRelay(delayMs, { host, port: Number(portText) }, mbps);
  console.log(JSON.stringify({ port: relay.port }));
  process.once('SIGTERM', () => void relay.close().then(() => process.exit(0)));
  process.stdin.resume();
  process.stdin.once('end', () => void relay.close().then(() => process.exit(0)));
}

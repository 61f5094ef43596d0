// The session's outgoing side: queues encoded frames and sends them as one transport message.
// What an event-loop turn queues leaves in its check phase (setImmediate), after every socket
// that was readable in the turn has been read: a busy turn (many sockets readable at once) costs
// one WebSocket message, as an OpenSSH channel loop writes once per poll. A reply queued in the
// poll phase or by a timer waits for nothing else; one queued in a check phase itself (a writer
// woken by a drain) leaves in the next loop iteration's.
// maxMessageBytes queued are sent at once; a large DATA payload goes as its own message so it is
// never copied (and the receiving decoder takes it whole). It also holds back writers while the
// transport is over its high-water mark and wakes them as it drains.
import type { Transport } from './transport.js';

/** Payloads at least this large are sent as their own transport message instead of being copied into a batch. */
const UNCOPIED_PAYLOAD_BYTES = 16 * 1024;

export interface Waiter {
  continueWriting(): void;
}

export class FrameWriter {
  bytesSent = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private stopped = false;
  private readonly waiting = new Set<Waiter>();
  // Made once, not per batch: an open sends several batches and each would allocate its closures.
  private readonly flushLater = (): void => this.flush();
  private readonly wakeLater = (): void => this.wake();

  constructor(
    private readonly transport: Transport,
    private readonly maxMessageBytes: number,
    private readonly highWater: number,
  ) {}

  /** Bytes queued here or in the transport, not yet sent. */
  get bufferedBytes(): number {
    return this.outBytes + this.transport.bufferedAmount;
  }

  enqueue(first: Buffer, second?: Buffer): void {
    if (this.stopped) return;
    if (second && second.length >= UNCOPIED_PAYLOAD_BYTES) {
      // A large payload travels as its own message, never copied: what is queued, with this
      // frame's header last, goes first (the transport keeps order, not message boundaries).
      this.out.push(first);
      this.outBytes += first.length;
      this.flush();
      this.bytesSent += second.length;
      this.transport.send(second);
      return;
    }
    this.out.push(first);
    this.outBytes += first.length;
    if (second) {
      this.out.push(second);
      this.outBytes += second.length;
    }
    if (this.outBytes >= this.maxMessageBytes) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.outBytes === 0 || this.stopped) return;
    const message = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.bytesSent += message.length;
    this.transport.send(message);
    if (this.waiting.size > 0) setImmediate(this.wakeLater);
  }

  /** Sends what is queued, then drops anything enqueued later. */
  stop(): void {
    this.flush();
    this.stopped = true;
    this.waiting.clear();
  }

  /** True when a writer may go on; otherwise it is woken (continueWriting) after a drain. */
  writable(waiter: Waiter): boolean {
    if (this.bufferedBytes < this.highWater) return true;
    this.waiting.add(waiter);
    return false;
  }

  forget(waiter: Waiter): void {
    this.waiting.delete(waiter);
  }

  /** The transport drained some: wake waiting writers if we are under the mark again. */
  wake(): void {
    if (this.waiting.size === 0 || this.bufferedBytes >= this.highWater) return;
    const writers = [...this.waiting];
    this.waiting.clear();
    for (const writer of writers) writer.continueWriting();
  }
}

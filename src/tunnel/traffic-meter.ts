// How busy a tunnel is, for keeping bulk transfers from delaying requests and replies:
// - TrafficMeter: bytes moved, each weighed down by its age (e^(-age / DECAY_MS)), so about a
//   quarter second's worth at the current rate: megabytes while a bulk transfer runs, little for
//   requests and replies. One multiplication per update, no timer. Sessions and streams keep one:
//   the pool (pool.ts) places new streams on a quiet session, and a stream under
//   QUIET_TRAFFIC_BYTES counts as interactive.
// - Interactive: which streams moved interactive traffic lately, and when, shared by the sessions
//   of one pool. While another stream's is recent, a bulk stream keeps a smaller receive window
//   (stream.ts), so fewer of its bytes are in flight in the processes and sockets the requests
//   cross. A stream's own start (its first bytes look interactive) never shrinks its window, and
//   another's stops counting once that stream's traffic is past TRANSFER_TRAFFIC_BYTES:
//   downloads starting together (a page's images, eight files at once) do not make each other
//   keep small windows once their transfers are under way.

/** Bytes moved this long ago weigh 1/e as much as bytes moved now. */
const DECAY_MS = 250;

/** Recent traffic under this (≈ 4 Mbit/s and less) is requests and replies; over it, a bulk transfer. */
export const QUIET_TRAFFIC_BYTES = 128 * 1024;

/**
 * Recent traffic past this (≈ 16 Mbit/s and more) is a transfer for certain: a stream's earlier
 * interactive notes stop counting once it gets here (a download's first bytes looked interactive).
 * Four times QUIET_TRAFFIC_BYTES, so streams of requests and replies that hover about that line
 * (thousands of small requests a second on one connection) keep counting.
 */
export const TRANSFER_TRAFFIC_BYTES = 4 * QUIET_TRAFFIC_BYTES;

/** Interactive traffic this recent makes bulk streams keep smaller windows. */
const INTERACTIVE_RECENT_MS = 250;

export class TrafficMeter {
  private weighed = 0;
  private at = performance.now();

  /** Counts `bytes` moved now; returns the meter's value. */
  add(bytes: number): number {
    this.weighed = this.value + bytes;
    return this.weighed;
  }

  /** The bytes moved so far, each weighed by its age. */
  get value(): number {
    const now = performance.now();
    if (now > this.at) {
      this.weighed *= Math.exp((this.at - now) / DECAY_MS);
      this.at = now;
    }
    return this.weighed;
  }
}

/** What Interactive asks of a stream that noted: whether it has grown into a transfer since. */
export interface Mover {
  readonly transferring: boolean;
}

/** How many recent noters Interactive keeps: downloads starting together (eight files, a page's images) and the request streams beside them. */
const MAX_NOTERS = 16;

export class Interactive {
  /**
   * The streams that noted lately, least recent first, with when each last noted: at most
   * MAX_NOTERS (the least recent goes first), closed streams forgotten. A request stream that
   * keeps noting stays at the recent end, so only sixteen other streams noting after it push it out.
   */
  private readonly noters = new Map<Mover, number>();
  private newest: Mover | null = null;

  constructor(private readonly recentMs = INTERACTIVE_RECENT_MS) {}

  /** `stream`'s interactive traffic moved now. */
  note(stream: Mover): void {
    if (stream !== this.newest) {
      this.noters.delete(stream); // set() below puts it at the recent end
      this.newest = stream;
    }
    this.noters.set(stream, performance.now());
    if (this.noters.size > MAX_NOTERS) this.noters.delete(this.noters.keys().next().value!);
  }

  /** `stream` closed: its notes no longer count, and it is not kept referenced. */
  forget(stream: Mover): void {
    this.noters.delete(stream);
    if (this.newest === stream) this.newest = null;
  }

  /**
   * True while a stream other than `stream` moved interactive traffic within the last recentMs
   * and has not grown into a transfer since (whose first bytes noted, then a download's followed).
   */
  nearby(stream: Mover): boolean {
    const now = performance.now();
    for (const [noter, at] of this.noters) {
      if (noter !== stream && now - at < this.recentMs && !noter.transferring) return true;
    }
    return false;
  }
}

// How busy a tunnel is, for keeping bulk transfers from delaying requests and replies:
// - TrafficMeter: bytes moved, each weighed down by its age (e^(-age / DECAY_MS)), so about a
//   quarter second's worth at the current rate: megabytes while a bulk transfer runs, little for
//   requests and replies. One multiplication per update, no timer. Sessions and streams keep one:
//   the pool (pool.ts) places new streams on a quiet session, and a stream under
//   QUIET_TRAFFIC_BYTES counts as interactive.
// - Interactive: when interactive traffic last moved, shared by the sessions of one pool. While it
//   is recent, bulk streams keep smaller receive windows (stream.ts), so fewer of their bytes are
//   in flight in the processes and sockets the requests cross.

/** Bytes moved this long ago weigh 1/e as much as bytes moved now. */
const DECAY_MS = 250;

/** Recent traffic under this (≈ 4 Mbit/s and less) is requests and replies; over it, a bulk transfer. */
export const QUIET_TRAFFIC_BYTES = 128 * 1024;

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

export class Interactive {
  private at = -Infinity;

  /** Interactive traffic moved now. */
  note(): void {
    this.at = performance.now();
  }

  /** True while interactive traffic moved within the last INTERACTIVE_RECENT_MS. */
  get recent(): boolean {
    return performance.now() - this.at < INTERACTIVE_RECENT_MS;
  }
}

// How busy a tunnel is, for keeping bulk transfers from delaying requests and replies:
// - TrafficMeter: bytes moved, each weighed down by its age (e^(-age / DECAY_MS)), so about a
//   quarter second's worth at the current rate: megabytes while a bulk transfer runs, little for
//   requests and replies. One multiplication per update, no timer. Sessions and streams keep one:
//   the pool (pool.ts) places new streams on a quiet session, and a stream under
//   QUIET_TRAFFIC_BYTES counts as interactive.
// - Interactive: when interactive traffic last moved, and whose, shared by the sessions of one
//   pool. While another stream's is recent, a bulk stream keeps a smaller receive window
//   (stream.ts), so fewer of its bytes are in flight in the processes and sockets the requests
//   cross. A stream's own start (its first bytes look interactive) never shrinks its window.

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
  // The newest note, and the newest by any other stream: enough to answer "someone else, lately?".
  private at = -Infinity;
  private by: object | null = null;
  private otherAt = -Infinity;

  /** `stream`'s interactive traffic moved now. */
  note(stream: object): void {
    const now = performance.now();
    if (stream !== this.by) {
      this.otherAt = this.at;
      this.by = stream;
    }
    this.at = now;
  }

  /** True while a stream other than `stream` moved interactive traffic within the last INTERACTIVE_RECENT_MS. */
  nearby(stream: object): boolean {
    return performance.now() - (stream === this.by ? this.otherAt : this.at) < INTERACTIVE_RECENT_MS;
  }
}

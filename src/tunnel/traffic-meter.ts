// TrafficMeter: a session's recent traffic, as bytes each weighed down by its age
// (e^(-age / DECAY_MS)), so about a quarter second's worth at the current rate: megabytes while a
// bulk transfer runs, little for requests and replies. One multiplication per update, no timer.
// The pool (pool.ts) reads it to place new streams away from bulk transfers.

/** Bytes moved this long ago weigh 1/e as much as bytes moved now. */
const DECAY_MS = 250;

export class TrafficMeter {
  private weighed = 0;
  private at = performance.now();

  /** Counts `bytes` moved now. */
  add(bytes: number): void {
    this.weighed = this.value + bytes;
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

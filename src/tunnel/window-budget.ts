// WindowBudget: the receive credit a session may have granted across all its streams, which is
// what the peer may make it buffer. A new stream starts with the configured initial window while
// the budget lasts and with MIN_WINDOW after that (so it can always make progress), and a bulk
// stream's window only grows while there is budget left. So a session never holds more unread
// bytes than `total + streams × MIN_WINDOW`, however many streams are open. Credit is a promise,
// not an allocation: an idle stream costs no buffer memory. Used by session.ts and stream-opener.ts.
import { Defaults } from './protocol.js';

export class WindowBudget {
  private available: number;

  constructor(readonly total: number) {
    this.available = total;
  }

  /** Bytes of credit not granted to any stream (negative when floors went over the total). */
  get remaining(): number {
    return this.available;
  }

  /** The receive window a new stream starts with: `wanted` while the budget lasts, else the floor. */
  reserveInitial(wanted: number): number {
    const granted = Math.max(Math.min(wanted, this.available), Math.min(wanted, Defaults.MIN_WINDOW));
    this.available -= granted;
    return granted;
  }

  /** Up to `bytes` more window for a growing stream; returns what it got (maybe 0). */
  reserveGrowth(bytes: number): number {
    const granted = Math.max(0, Math.min(bytes, this.available));
    this.available -= granted;
    return granted;
  }

  release(bytes: number): void {
    this.available += bytes;
  }
}

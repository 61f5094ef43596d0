// Deadlines: many timeouts that almost never fire (an open awaiting its answer, a connect in
// progress) on one timer instead of a Node timer each. Adding and removing one is a Set operation;
// the timer is armed for the earliest deadline and, when it fires, expires what is due and re-arms
// for the earliest left. A deadline fires no earlier than asked, and late by at most what a Node
// timer would be; deadlines due together expire in order. Used by stream-opener.ts (open
// timeouts) and dialer.ts (connect timeouts).

export interface Deadline {
  readonly at: number;
  readonly expire: () => void;
}

export class Deadlines {
  private readonly entries = new Set<Deadline>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly fire = (): void => this.expireDue();

  /** keepAlive: pending deadlines keep the process running, as a plain setTimeout would (the timer is unref'd while none are). */
  constructor(private readonly keepAlive = false) {}

  /** Calls `expire` after `ms` unless the returned deadline is removed first. */
  add(ms: number, expire: () => void): Deadline {
    const deadline = { at: performance.now() + ms, expire };
    this.entries.add(deadline);
    if (deadline.at < this.timerAt) this.arm(deadline.at);
    else if (this.keepAlive && this.entries.size === 1) this.timer?.ref();
    return deadline;
  }

  /** The timer stays armed (a set without deadlines lets it pass): re-arming per open would cost what this saves. */
  remove(deadline: Deadline): void {
    if (this.entries.delete(deadline) && this.entries.size === 0) this.timer?.unref();
  }

  /** Forgets every deadline without calling it. */
  clear(): void {
    this.entries.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    // Rounded up: a Node timer may fire up to a millisecond before performance.now() says it is due.
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now())));
    if (!this.keepAlive || this.entries.size === 0) this.timer.unref();
  }

  private expireDue(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now();
    const due: Deadline[] = [];
    let next = Infinity;
    for (const deadline of this.entries) {
      if (deadline.at <= now) due.push(deadline);
      else if (deadline.at < next) next = deadline.at;
    }
    if (next < Infinity) this.arm(next);
    // A timer late by more than their gap (a busy event loop) finds several due: they still expire
    // in the order asked for, not in the order they were added.
    if (due.length > 1) due.sort((a, b) => a.at - b.at);
    // One expiry may remove or clear others that are due as well (a session destroyed by a
    // timeout): those never fire, as their own timers would have been cancelled.
    for (const deadline of due) if (this.entries.delete(deadline)) deadline.expire();
  }
}

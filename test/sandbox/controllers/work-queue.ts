// A keyed work queue with one worker, the way kube-controller-manager runs a controller: a key
// ("namespace/name") queued many times is reconciled once, a key is never reconciled twice at the
// same time, and a failed reconcile is retried later with a growing delay. Leaves out rate limits
// and parallel workers (the sandbox's scale does not need them). Used by every controller here.
import createDebug from 'debug';

const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5_000;

export type Reconcile = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private running = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly log: createDebug.Debugger;

  constructor(
    private readonly name: string,
    private readonly reconcile: Reconcile,
  ) {
    this.log = createDebug(`tp:sandbox:${name}`);
  }

  add(key: string): void {
    if (this.closed) return;
    this.pending.add(key);
    if (!this.running) this.idle = this.drain();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Stops taking keys and waits for the reconcile in progress; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.pending.clear();
    await this.idle;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.pending.size > 0) {
        const key = this.pending.values().next().value as string;
        this.pending.delete(key);
        try {
          await this.reconcile(key);
          this.failures.delete(key);
        } catch (error) {
          const attempts = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, attempts);
          const delay = Math.min(RETRY_BASE_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
          this.log('!! %s reconcile failed (attempt %d, retry in %dms): %s', key, attempts, delay, describe(error));
          this.addAfter(key, delay);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** A short description of an API error for logs: the HTTP status and the server's message. */
export function describe(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; body?: unknown; message?: unknown };
    if (typeof e.code === 'number') {
      let message = '';
      try {
        const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
        message = (body as { message?: string })?.message ?? '';
      } catch {
        message = String(e.body);
      }
      return `HTTP ${e.code} ${message}`;
    }
    if (typeof e.message === 'string') return e.message;
  }
  return String(error);
}

// SessionPool: one logical connection spread over several sessions (several WebSockets), so a
// slow stream's head-of-line blocking and one connection's CPU limit are shared out. open()
// picks the live session with the fewest streams; dead or draining sessions are replaced in the
// background by calling `connect` again (with a delay after failures). It leaves out choosing
// *where* to connect: `connect` does that.
import { logger } from '../log/logger.js';
import { TunnelError } from './errors.js';
import type { OpenRequest } from './incoming-open.js';
import type { Session } from './session.js';
import type { TunnelStream } from './stream.js';

const log = logger('tp:tunnel');

export interface SessionPoolOptions {
  /** Makes a new session (e.g. () => connectTunnel(url, options)). */
  connect: () => Promise<Session>;
  /** Sessions to keep. Default 2. */
  size?: number;
  /** Wait after a failed connect before trying again. Default 1 s. */
  retryDelayMs?: number;
}

export class SessionPool {
  private readonly sessions = new Set<Session>();
  private readonly size: number;
  private connecting = 0;
  private closed = false;
  private lastError: Error | null = null;
  private waiters: Array<() => void> = [];

  constructor(private readonly options: SessionPoolOptions) {
    this.size = options.size ?? 2;
  }

  /** Live sessions (taking new streams). */
  get liveSessions(): Session[] {
    return [...this.sessions].filter((session) => session.live);
  }

  /** Connects up to `size` sessions; resolves once at least one is live (rejects if none could be). */
  async start(): Promise<void> {
    this.fill();
    await this.anyLive();
  }

  async open(request: OpenRequest, options: { timeoutMs?: number } = {}): Promise<TunnelStream> {
    const session = await this.pick();
    return session.open(request, options);
  }

  /** A control request on the least-loaded live session. */
  async request(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const session = await this.pick();
    return session.request(method, params, options);
  }

  /** Closes every session gracefully. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await Promise.all([...this.sessions].map((session) => session.close()));
  }

  destroy(): void {
    this.closed = true;
    this.wake();
    for (const session of this.sessions) session.destroy();
  }

  private async pick(): Promise<Session> {
    if (this.closed) throw new TunnelError('TUNNEL_ERR_NO_SESSION', 'the session pool is closed');
    this.fill();
    await this.anyLive();
    let best: Session | null = null;
    for (const session of this.liveSessions) {
      if (best === null || session.openStreamCount < best.openStreamCount) best = session;
    }
    if (!best) throw new TunnelError('TUNNEL_ERR_NO_SESSION', 'no live tunnel session', { cause: this.lastError ?? undefined });
    return best;
  }

  private async anyLive(): Promise<void> {
    while (!this.closed && this.liveSessions.length === 0) {
      if (this.connecting === 0) {
        throw new TunnelError('TUNNEL_ERR_NO_SESSION', this.lastError ? `no tunnel session could be established: ${this.lastError.message}` : 'no live tunnel session: every session closed', { cause: this.lastError ?? undefined });
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private fill(): void {
    if (this.closed) return;
    while (this.liveSessions.length + this.connecting < this.size) this.connectOne(0);
  }

  private connectOne(delayMs: number): void {
    this.connecting++;
    const attempt = async (): Promise<void> => {
      try {
        const session = await this.options.connect();
        if (this.closed) {
          session.destroy();
          return;
        }
        this.sessions.add(session);
        this.lastError = null;
        const replace = (): void => {
          this.sessions.delete(session);
          if (!this.closed) this.fill();
        };
        session.once('close', replace);
        session.once('goaway', () => {
          if (!this.closed) this.fill();
        });
        log.info('pool .. session %s joined (%d live)', session.id, this.liveSessions.length);
      } catch (error) {
        this.lastError = error as Error;
        log.warn('pool !! connect failed: %s', (error as Error).message);
      } finally {
        this.connecting--;
        this.wake();
      }
    };
    const timer = setTimeout(() => {
      void attempt().then(() => {
        if (this.lastError && !this.closed && this.liveSessions.length + this.connecting < this.size && this.waiters.length === 0) {
          // Retry later in the background; callers waiting now get the error.
          const retry = setTimeout(() => this.fill(), this.options.retryDelayMs ?? 1000);
          retry.unref();
        }
      });
    }, delayMs);
    if (delayMs > 0) timer.unref();
  }
}

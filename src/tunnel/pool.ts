// SessionPool: one logical connection spread over several sessions (several WebSockets), so a
// slow stream's head-of-line blocking is shared out and the number of streams is not capped by
// one session's limit.
// - Placing: open() picks, among the live sessions with room, one that carries no bulk transfer
//   (recent traffic under QUIET_TRAFFIC_BYTES) and of those the one with the fewest streams; when
//   every session is busy, the one with the least recent traffic. A bulk transfer's bytes wait in
//   its session's queues (sender, WebSocket, both kernels' socket buffers) ahead of every other
//   stream's, so a request opened while a download runs answers from a quiet session instead of
//   behind megabytes of the download.
// - Making way: the sessions share one record of when interactive traffic last moved
//   (traffic-meter.ts), so a download on one session keeps a smaller window while requests run
//   on another: they share the same processes and CPUs.
// - Growing: when every session has `growAt` of its stream limit in use, another is connected
//   (up to maxSessions); opens that find no room wait for it.
// - Shrinking: when the load has fit in fewer sessions (never below `size`) for idleCloseMs, the
//   extra sessions with the fewest streams are retired: they take no new streams and are closed
//   once their last stream ends.
// - Healing: dead or draining sessions are replaced in the background by calling `connect` again
//   (with a delay after failures).
// - Limits: beyond maxStreams streams in all, or when every session is full and no more may be
//   connected, open() fails with TP_ERR_TUNNEL_LIMIT (reason 'limit') saying which limit it met.
// It leaves out choosing *where* to connect: `connect` does that.
import { logger } from '../log/logger.js';
import { TunnelError } from './errors.js';
import type { OpenRequest } from './incoming-open.js';
import { Defaults } from './protocol.js';
import type { Session } from './session.js';
import type { TunnelStream } from './stream.js';
import { Interactive, QUIET_TRAFFIC_BYTES } from './traffic-meter.js';

const log = logger('tp:tunnel');

export const PoolDefaults = {
  SIZE: 2,
  MAX_SESSIONS: 16,
  GROW_AT: 0.75,
  IDLE_CLOSE_MS: 10_000,
  RETRY_DELAY_MS: 1000,
} as const;

/** At most this many sessions connect at once while the pool grows. */
const MAX_CONCURRENT_GROWTH = 2;

export interface SessionPoolOptions {
  /** Makes a new session (e.g. () => connectTunnel(url, options)). */
  connect: () => Promise<Session>;
  /** Sessions kept at all times. Default 2. */
  size?: number;
  /** Most sessions at once (the pool grows on demand up to this). Default 16. */
  maxSessions?: number;
  /** Most streams in all sessions together; opens beyond fail with TP_ERR_TUNNEL_LIMIT. Default maxSessions × Defaults.MAX_STREAMS. */
  maxStreams?: number;
  /** Another session is connected when every session has this share of its stream limit in use. Default 0.75. */
  growAt?: number;
  /** Extra sessions are retired once the load has fit in fewer for this long. Default 10 s. */
  idleCloseMs?: number;
  /** Wait after a failed connect before trying again. Default 1 s. */
  retryDelayMs?: number;
}

export class SessionPool {
  private readonly sessions = new Set<Session>();
  private readonly retiring = new Set<Session>();
  private readonly size: number;
  private readonly maxSessions: number;
  private readonly maxStreams: number;
  private readonly growAt: number;
  private readonly idleCloseMs: number;
  private connecting = 0;
  private closed = false;
  private lastError: Error | null = null;
  /** When the last connect failed: growing waits a retry delay after it, so a full pool whose peer is gone answers at once instead of reconnecting in a loop. */
  private lastFailureAt = 0;
  private waiters: Array<() => void> = [];
  private idleCheck: NodeJS.Timeout | null = null;
  private overSince: number | null = null;
  /** When interactive traffic last moved on any session: bulk streams on all of them make way for it. */
  private readonly interactive = new Interactive();

  constructor(private readonly options: SessionPoolOptions) {
    this.size = options.size ?? PoolDefaults.SIZE;
    this.maxSessions = Math.max(this.size, options.maxSessions ?? PoolDefaults.MAX_SESSIONS);
    this.maxStreams = options.maxStreams ?? this.maxSessions * Defaults.MAX_STREAMS;
    this.growAt = options.growAt ?? PoolDefaults.GROW_AT;
    this.idleCloseMs = options.idleCloseMs ?? PoolDefaults.IDLE_CLOSE_MS;
  }

  /** Live sessions (taking new streams, retiring ones included). */
  get liveSessions(): Session[] {
    return [...this.sessions].filter((session) => session.live);
  }

  /** Streams open (or being opened) over every session. */
  get openStreamCount(): number {
    let total = 0;
    for (const session of this.sessions) total += session.openStreamCount;
    return total;
  }

  /** Connects up to `size` sessions; resolves once at least one is live (rejects if none could be). */
  async start(): Promise<void> {
    this.fill();
    await this.anyLive();
  }

  /** Opens a stream on a session with room, growing the pool or waiting for room as needed. */
  open(request: OpenRequest, options: { timeoutMs?: number } = {}): Promise<TunnelStream> {
    // The common case, a live session with room, in one synchronous step without the async
    // function's promises (a few per open, which a short connection notices).
    if (!this.closed) {
      this.fill();
      if (this.hasLive()) {
        let session: Session | null;
        try {
          session = this.pickWithRoom();
        } catch (error) {
          return Promise.reject(error as Error);
        }
        if (session) return session.open(request, options).finally(this.wakeAfterOpen);
        // No room now (pickWithRoom may have started growing): wait for a change before picking again.
        return this.openWhenReady(request, options, true);
      }
    }
    return this.openWhenReady(request, options, false);
  }

  /** A settled open frees a pending slot (or a stream slot): someone may be waiting for it. */
  private readonly wakeAfterOpen = (): void => this.wake();

  private async openWhenReady(request: OpenRequest, options: { timeoutMs?: number }, waitFirst: boolean): Promise<TunnelStream> {
    const deadline = Date.now() + (options.timeoutMs ?? Defaults.OPEN_TIMEOUT_MS);
    if (waitFirst) await this.waitForChange(deadline);
    for (;;) {
      if (this.closed) throw new TunnelError('TP_ERR_TUNNEL_NO_SESSION', 'the session pool is closed');
      this.fill();
      await this.anyLive();
      // Choosing and calling session.open() in one synchronous step, so concurrent opens see each other.
      const session = this.pickWithRoom();
      if (session) {
        try {
          return await session.open(request, options);
        } finally {
          this.wake();
        }
      }
      // Either a session is connecting, or every session with room has its most opens in flight.
      if (Date.now() >= deadline) throw this.fullError();
      await this.waitForChange(deadline);
    }
  }

  /** A control request on the least-loaded live session. */
  async request(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    this.fill();
    await this.anyLive();
    const session = leastLoaded(this.liveSessions);
    if (!session) throw this.noSession();
    return session.request(method, params, options);
  }

  /** Closes every session gracefully. Idempotent. */
  async close(): Promise<void> {
    this.stop();
    await Promise.all([...this.sessions].map((session) => session.close()));
  }

  destroy(): void {
    this.stop();
    for (const session of this.sessions) session.destroy();
  }

  private stop(): void {
    this.closed = true;
    if (this.idleCheck) clearInterval(this.idleCheck);
    this.idleCheck = null;
    this.wake();
  }

  /**
   * The least-loaded live session with room for a stream and an open in flight, growing the pool
   * when the sessions near their limit; null when the caller should wait; throws at the limit.
   */
  private pickWithRoom(): Session | null {
    const total = this.openStreamCount;
    if (total >= this.maxStreams) {
      throw new TunnelError('TP_ERR_TUNNEL_LIMIT', `${total} streams are open, the most this pool allows (${this.maxStreams})`, { reason: 'limit' });
    }
    if (this.activeNearLimit()) this.grow();
    // One pass, no arrays: this runs for every open.
    let withRoom = 0;
    let ready: Session | null = null;
    let readyTraffic = 0;
    for (const session of this.sessions) {
      if (!session.live || this.retiring.has(session) || session.openStreamCount >= session.maxStreams) continue;
      withRoom++;
      if (session.pendingOpenCount >= session.maxPendingOpens) continue;
      // Where a new stream waits behind the fewest bulk bytes: see "Placing" above.
      const traffic = session.recentTraffic;
      if (ready === null || placeBefore(traffic, session.openStreamCount, readyTraffic, ready.openStreamCount)) {
        ready = session;
        readyTraffic = traffic;
      }
    }
    if (ready) return ready;
    if (withRoom === 0 && this.connecting === 0) throw this.fullError();
    return null;
  }

  /** True when every live, not retiring session has its growAt share of streams in use (or there is none). */
  private activeNearLimit(): boolean {
    for (const session of this.sessions) {
      if (session.live && !this.retiring.has(session) && session.openStreamCount < session.maxStreams * this.growAt) return false;
    }
    return true;
  }

  /** Takes a retiring session back, or connects one more, within maxSessions. */
  private grow(): void {
    const retired = leastLoaded([...this.retiring].filter((session) => session.live));
    if (retired) {
      this.retiring.delete(retired);
      log('pool .. session %s taken back (%d streams)', retired.id, this.openStreamCount);
      return;
    }
    if (this.connecting >= MAX_CONCURRENT_GROWTH || this.liveSessions.length + this.connecting >= this.maxSessions) return;
    if (this.lastError && Date.now() - this.lastFailureAt < (this.options.retryDelayMs ?? PoolDefaults.RETRY_DELAY_MS)) return;
    log.info('pool -> growing to %d sessions (%d streams)', this.liveSessions.length + this.connecting + 1, this.openStreamCount);
    this.connectOne(0);
    this.watchIdle();
  }

  private fullError(): TunnelError {
    const live = this.liveSessions;
    if (live.some((session) => !this.retiring.has(session) && session.openStreamCount < session.maxStreams)) {
      return new TunnelError('TP_ERR_TUNNEL_LIMIT', `every tunnel session has its most opens awaiting an answer; the peer answers too slowly`, { reason: 'timeout' });
    }
    const limit = live.reduce((sum, session) => sum + session.maxStreams, 0);
    const cause = this.lastError ? `; connecting another failed: ${this.lastError.message}` : '';
    // Below maxSessions, what stopped the pool is a failed connect, not the limit.
    const reason = this.lastError && live.length < this.maxSessions ? 'unreachable' : 'limit';
    return new TunnelError(
      'TP_ERR_TUNNEL_LIMIT',
      `all ${live.length} tunnel sessions are full (${this.openStreamCount} streams of ${limit}; at most ${this.maxSessions} sessions)${cause}`,
      { reason, cause: this.lastError ?? undefined },
    );
  }

  private noSession(): TunnelError {
    return new TunnelError('TP_ERR_TUNNEL_NO_SESSION', 'no live tunnel session', { cause: this.lastError ?? undefined });
  }

  /** anyLive()'s answer when it needs no waiting, without a promise: the common case of every open. */
  private hasLive(): boolean {
    if (this.closed) return false;
    for (const session of this.sessions) if (session.live) return true;
    return false;
  }

  private async anyLive(): Promise<void> {
    while (!this.closed && this.liveSessions.length === 0) {
      if (this.connecting === 0) {
        throw new TunnelError('TP_ERR_TUNNEL_NO_SESSION', this.lastError ? `no tunnel session could be established: ${this.lastError.message}` : 'no live tunnel session: every session closed', { cause: this.lastError ?? undefined });
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private waitForChange(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private fill(): void {
    if (this.closed) return;
    while (this.liveSessions.length + this.connecting < this.size) this.connectOne(0);
  }

  /** While there are more sessions than `size`, retires and closes the ones the load does not need. */
  private watchIdle(): void {
    if (this.idleCheck || this.closed) return;
    this.idleCheck = setInterval(() => this.shrink(), Math.max(10, Math.min(this.idleCloseMs / 4, 5000)));
    this.idleCheck.unref();
  }

  private shrink(): void {
    const active = this.liveSessions.filter((session) => !this.retiring.has(session));
    // Half the load growth aims for, so a load near a growth step does not connect and retire in turns.
    const perSession = Math.max(1, Math.floor(((active[0]?.maxStreams ?? Defaults.MAX_STREAMS) * this.growAt) / 2));
    const needed = Math.max(this.size, Math.ceil(this.openStreamCount / perSession));
    if (active.length <= needed) this.overSince = null;
    else if (this.overSince === null) this.overSince = Date.now();
    else if (Date.now() - this.overSince >= this.idleCloseMs) {
      const spare = [...active].sort((a, b) => a.openStreamCount - b.openStreamCount).slice(0, active.length - needed);
      for (const session of spare) {
        this.retiring.add(session);
        log('pool .. retiring session %s (%d streams left)', session.id, session.openStreamCount);
      }
      this.overSince = null;
    }
    for (const session of this.retiring) {
      if (session.openStreamCount > 0) continue;
      this.retiring.delete(session);
      log.info('pool -> closing idle session %s', session.id);
      void session.close();
    }
    if (this.retiring.size === 0 && this.liveSessions.length <= this.size && this.idleCheck) {
      clearInterval(this.idleCheck);
      this.idleCheck = null;
    }
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
        session.shareInteractive(this.interactive);
        this.lastError = null;
        session.on('stream-closed', () => {
          if (this.waiters.length > 0) this.wake();
        });
        session.once('close', () => {
          this.sessions.delete(session);
          this.retiring.delete(session);
          if (!this.closed) this.fill();
          this.wake();
        });
        session.once('goaway', () => {
          this.retiring.delete(session);
          if (!this.closed) this.fill();
        });
        log.info('pool .. session %s joined (%d live)', session.id, this.liveSessions.length);
      } catch (error) {
        this.lastError = error as Error;
        this.lastFailureAt = Date.now();
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
          const retry = setTimeout(() => this.fill(), this.options.retryDelayMs ?? PoolDefaults.RETRY_DELAY_MS);
          retry.unref();
        }
      });
    }, delayMs);
    if (delayMs > 0) timer.unref();
  }
}

function placeBefore(traffic: number, streams: number, bestTraffic: number, bestStreams: number): boolean {
  const quiet = traffic < QUIET_TRAFFIC_BYTES;
  const bestQuiet = bestTraffic < QUIET_TRAFFIC_BYTES;
  if (quiet !== bestQuiet) return quiet;
  return quiet ? streams < bestStreams : traffic < bestTraffic;
}

function leastLoaded(sessions: Session[]): Session | null {
  let best: Session | null = null;
  for (const session of sessions) {
    if (best === null || session.openStreamCount < best.openStreamCount) best = session;
  }
  return best;
}

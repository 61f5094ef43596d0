// Keepalive for a session: pings the peer every pingIntervalMs, measures the round trip from
// each pong, and declares the peer dead when nothing at all was heard for deadPeerTimeoutMs.
// Its timer does not keep the process alive (the transport's socket does).

/**
 * The round trip a stream's receive window is sized for (stream.ts: about twice its rate times
 * this): the path's smallest measured round trip, which leaves out the queues of busy moments, so
 * windows keep a long path full without queueing megabytes ahead of other streams' small replies
 * on a short one. The floor covers a loaded machine's scheduling delays; until the first pong
 * (a ping goes out when a stream first asks) the guess is UNMEASURED_RTT_MS.
 */
const MIN_PATH_RTT_MS = 8;
/**
 * The floor while interactive traffic shares the tunnel: then a bulk stream's window covers only
 * the path's own round trip (what it needs to keep its rate on a long path), not the headroom
 * that speeds it up on a short one, so fewer of its bytes sit in the queues the requests cross.
 */
const SHARED_MIN_PATH_RTT_MS = 0.25;
const UNMEASURED_RTT_MS = 20;

export interface KeepaliveOptions {
  pingIntervalMs: number;
  deadPeerTimeoutMs: number;
  sendPing(): void;
  onDead(silentForMs: number): void;
}

export class Keepalive {
  rttMs: number | undefined;
  /** The smallest round trip measured: the path's own delay, without the queues of busy moments. */
  minRttMs: number | undefined;
  private lastHeardAt = performance.now();
  private pingSentAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: KeepaliveOptions) {
    const { pingIntervalMs, deadPeerTimeoutMs } = options;
    if (pingIntervalMs <= 0 && deadPeerTimeoutMs <= 0) return;
    const tick = Math.min(pingIntervalMs > 0 ? pingIntervalMs : Infinity, deadPeerTimeoutMs > 0 ? deadPeerTimeoutMs / 3 : Infinity);
    let lastPingAt = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      if (deadPeerTimeoutMs > 0 && now - this.lastHeardAt > deadPeerTimeoutMs) {
        this.stop();
        options.onDead(Math.round(now - this.lastHeardAt));
        return;
      }
      if (pingIntervalMs > 0 && now - lastPingAt >= pingIntervalMs - 1) {
        lastPingAt = now;
        this.ping();
      }
    }, tick);
    this.timer.unref();
  }

  /** Anything arrived from the peer. */
  heard(): void {
    this.lastHeardAt = performance.now();
  }

  /** Sends a ping unless one is outstanding (its pong answers for both: pongs carry no id). */
  ping(): void {
    if (this.pingSentAt !== null) return;
    this.pingSentAt = performance.now();
    this.options.sendPing();
  }

  /** The round trip a stream's window is sized for: the smallest measured, with a floor (a lower one when `shared`); a guess (and a ping) before the first pong. */
  pathRttMs(shared = false): number {
    if (this.minRttMs === undefined) {
      this.ping();
      return UNMEASURED_RTT_MS;
    }
    return Math.max(shared ? SHARED_MIN_PATH_RTT_MS : MIN_PATH_RTT_MS, this.minRttMs);
  }

  /** A pong arrived; returns the new RTT, or undefined if no ping was outstanding. */
  pong(): number | undefined {
    if (this.pingSentAt === null) return undefined;
    this.rttMs = performance.now() - this.pingSentAt;
    this.minRttMs = Math.min(this.minRttMs ?? Infinity, this.rttMs);
    this.pingSentAt = null;
    return this.rttMs;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

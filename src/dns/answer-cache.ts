// The DNS stub's cache of cluster answers: positive answers live for their shortest TTL (capped),
// negative answers (NXDOMAIN, or no records) for a short fixed time (RFC 2308 style), and
// concurrent questions for the same name and type share one lookup. Leaves out forwarded
// (non-cluster) answers, which the system resolvers cache themselves.
import type { DnsRecord } from './dns2-wire.js';

export interface ClusterAnswer {
  answers: DnsRecord[];
  rcode: number;
}

export interface AnswerCacheOptions {
  /** Longest time a positive answer is kept, in seconds. Default 30. */
  maxTtlSeconds?: number;
  /** How long a negative answer is kept, in seconds. Default 5. */
  negativeTtlSeconds?: number;
  /** Most entries kept; the oldest go first. Default 10,000. */
  maxEntries?: number;
  /** Clock in milliseconds. Default Date.now. */
  now?: () => number;
}

interface Entry {
  answer: ClusterAnswer;
  storedAt: number;
  expiresAt: number;
}

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<ClusterAnswer>>();
  private readonly now: () => number;
  private readonly maxTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;

  constructor(options: AnswerCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxTtlMs = (options.maxTtlSeconds ?? 30) * 1000;
    this.negativeTtlMs = (options.negativeTtlSeconds ?? 5) * 1000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * The cached answer for (name, type) with TTLs reduced by its age, or the result of `lookup`
   * (shared with concurrent callers, then cached). Lookup failures are not cached.
   */
  async get(name: string, type: string, lookup: () => Promise<ClusterAnswer>): Promise<{ answer: ClusterAnswer; cached: boolean }> {
    const key = `${name.toLowerCase()}|${type}`;
    const entry = this.entries.get(key);
    const now = this.now();
    if (entry && entry.expiresAt > now) {
      const elapsed = Math.floor((now - entry.storedAt) / 1000);
      const answers = entry.answer.answers.map((record) => ({ ...record, ttl: Math.max(0, record.ttl - elapsed) }));
      return { answer: { rcode: entry.answer.rcode, answers }, cached: true };
    }
    if (entry) this.entries.delete(key);
    let inFlight = this.pending.get(key);
    if (!inFlight) {
      inFlight = lookup().finally(() => this.pending.delete(key));
      this.pending.set(key, inFlight);
      inFlight.then((answer) => this.store(key, answer), () => undefined);
      return { answer: await inFlight, cached: false };
    }
    return { answer: await inFlight, cached: true };
  }

  private store(key: string, answer: ClusterAnswer): void {
    const positive = answer.rcode === 0 && answer.answers.length > 0;
    const ttlMs = positive ? Math.min(this.maxTtlMs, Math.min(...answer.answers.map((r) => r.ttl)) * 1000) : this.negativeTtlMs;
    if (ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const now = this.now();
    this.entries.set(key, { answer, storedAt: now, expiresAt: now + ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }
}

// The manager's record of connected laptops ("client" on the wire). A laptop daemon says hello on
// each of its tunnel sessions and gets one client session id; its tunnels come and go
// (reconnects, a manager restart) while the client session lives on. When a client has no tunnel
// left, it has `ttlMs` to come back with `resume` before its session expires ('expired' event:
// later, its intercepts are removed then).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { logger } from '../log/logger.js';

const log = logger('tp:manager:sessions');

export interface LaptopSession {
  id: string;
  client: string;
  namespace: string;
  version: string;
  connectedAt: string;
  tunnels: number;
}

interface Entry extends LaptopSession {
  expiry: NodeJS.Timeout | null;
}

export class LaptopSessions extends EventEmitter<{ expired: [LaptopSession] }> {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly ttlMs: number) {
    super();
  }

  /** Joins a tunnel to its client session (resumed if `resume` names a live one); call detach when the tunnel closes. */
  attach(hello: { client: string; namespace: string; version: string; resume?: string }): { session: LaptopSession; resumed: boolean } {
    const existing = hello.resume ? this.entries.get(hello.resume) : undefined;
    if (existing) {
      if (existing.expiry) clearTimeout(existing.expiry);
      existing.expiry = null;
      existing.tunnels++;
      existing.namespace = hello.namespace;
      log.info('<- %s resumed by %s (%d tunnels)', existing.id, existing.client, existing.tunnels);
      return { session: view(existing), resumed: true };
    }
    const entry: Entry = {
      id: randomUUID(),
      client: hello.client,
      namespace: hello.namespace,
      version: hello.version,
      connectedAt: new Date().toISOString(),
      tunnels: 1,
      expiry: null,
    };
    this.entries.set(entry.id, entry);
    log.info('<- %s new for %s', entry.id, entry.client);
    return { session: view(entry), resumed: false };
  }

  detach(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.tunnels = Math.max(0, entry.tunnels - 1);
    if (entry.tunnels > 0 || entry.expiry) return;
    entry.expiry = setTimeout(() => {
      this.entries.delete(id);
      log.info('!! %s of %s expired', id, entry.client);
      this.emit('expired', view(entry));
    }, this.ttlMs);
    entry.expiry.unref();
  }

  list(): LaptopSession[] {
    return [...this.entries.values()].map(view);
  }

  close(): void {
    for (const entry of this.entries.values()) if (entry.expiry) clearTimeout(entry.expiry);
    this.entries.clear();
  }
}

function view(entry: Entry): LaptopSession {
  return { id: entry.id, client: entry.client, namespace: entry.namespace, version: entry.version, connectedAt: entry.connectedAt, tunnels: entry.tunnels };
}

// The manager's intercept state, in memory: intercepts (id, name, state, owning client session),
// the connected traffic-agents per workload, and which intercepts each agent has applied. An
// intercept is ACTIVE while at least one agent of its workload is connected and every connected
// agent has applied it; WAITING otherwise. A new intercept is held back from the agents until
// release(): the manager first makes sure traffic through the Service reaches the agents at all. Whenever a workload's list changes, each of its agents
// is sent the full list (replace semantics). Conflicts are checked here: two global intercepts of
// one port, a personal one beside a global one, two personal ones matching the same requests.
// Leaves out Kubernetes (injector.ts) and tunnels (intercept-service.ts): agents are reached
// through a `send` hook. A manager restart forgets all of this; clients re-create their intercepts.
import type { TunnelStream } from '../tunnel/index.js';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { logger } from '../log/logger.js';
import type { AgentHelloParams, AgentInterceptsBody, InterceptInfo, InterceptState } from '../api/control-api.js';
import { InterceptError } from '../inject/intercept-errors.js';

const log = logger('tp:manager:intercepts');

export interface AgentRecord {
  hello: AgentHelloParams;
  /** Ids from the agent's latest ready. */
  applied: Set<string>;
  send(body: AgentInterceptsBody): void;
  /** Opens a stream to the agent (volume copies). */
  open?(options: { host: string; port: number; metadata: Record<string, unknown> }): Promise<TunnelStream>;
}

export type NewIntercept = Omit<InterceptInfo, 'id' | 'state' | 'createdAt' | 'message'>;

export function workloadKey(w: { kind: string; name: string; namespace: string }): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}

export class InterceptRegistry extends EventEmitter<{ changed: [InterceptInfo]; applied: [string] }> {
  private readonly intercepts = new Map<string, InterceptInfo>();
  private readonly agents = new Map<string, Set<AgentRecord>>();
  /** Intercepts not yet sent to agents (see release()). */
  private readonly held = new Set<string>();

  add(spec: NewIntercept, options: { held?: boolean } = {}): InterceptInfo {
    const key = workloadKey(spec.workload);
    for (const other of this.intercepts.values()) {
      if (other.clientSession === spec.clientSession && other.name === spec.name) {
        throw new InterceptError('TP_ERR_INTERCEPT_CONFLICT', `You already have an intercept named "${spec.name}" (${other.workload.kind}/${other.workload.name}); leave it first (tp leave ${spec.name}) or give this one another --name.`);
      }
      if (workloadKey(other.workload) !== key || other.containerPort !== spec.containerPort) continue;
      const holder = `"${other.name}" held by ${other.client}`;
      if (spec.mode === 'global' || other.mode === 'global') {
        const kind = other.mode === 'global' ? 'a global intercept' : 'a personal intercept';
        throw new InterceptError('TP_ERR_INTERCEPT_CONFLICT', `Port ${spec.containerPort} of ${other.workload.kind}/${other.workload.name} already has ${kind} (${holder}). ${spec.mode === 'global' ? 'Use a personal intercept (--http-header NAME=VALUE) to share the workload' : 'A global intercept takes every request, so no personal one can share the port'}, or ask its holder to run \`tp leave ${other.name}\`.`);
      }
      if (sameMatch(spec, other)) {
        throw new InterceptError('TP_ERR_INTERCEPT_CONFLICT', `Port ${spec.containerPort} of ${other.workload.kind}/${other.workload.name} already has a personal intercept with the same headers and path prefix (${holder}); pick a different --http-header value.`);
      }
    }
    const info: InterceptInfo = { ...spec, id: randomUUID(), state: 'WAITING', message: 'waiting for the traffic-agent', createdAt: new Date().toISOString() };
    this.intercepts.set(info.id, info);
    if (options.held) this.held.add(info.id);
    log.info('<- %s %s on %s for %s', info.id, info.name, key, info.client);
    this.pushTo(key);
    return info;
  }

  /** Sends a held intercept to its workload's agents. */
  release(id: string): void {
    const info = this.intercepts.get(id);
    if (!this.held.delete(id) || !info) return;
    this.pushTo(workloadKey(info.workload));
  }

  get(id: string): InterceptInfo | undefined {
    return this.intercepts.get(id);
  }

  remove(id: string, reason: string): InterceptInfo | undefined {
    const info = this.intercepts.get(id);
    if (!info) return undefined;
    this.intercepts.delete(id);
    this.held.delete(id);
    const removed: InterceptInfo = { ...info, state: 'REMOVED', message: reason };
    log.info('-> %s removed: %s', id, reason);
    this.pushTo(workloadKey(info.workload));
    this.emit('changed', removed);
    return removed;
  }

  list(filter: (info: InterceptInfo) => boolean = () => true): InterceptInfo[] {
    return [...this.intercepts.values()].filter(filter).map((i) => ({ ...i }));
  }

  bySession(sessionId: string): InterceptInfo[] {
    return this.list((i) => i.clientSession === sessionId);
  }

  byWorkload(key: string): InterceptInfo[] {
    return this.list((i) => workloadKey(i.workload) === key);
  }

  agentsOf(key: string): AgentRecord[] {
    return [...(this.agents.get(key) ?? [])];
  }

  addAgent(record: AgentRecord): () => void {
    const key = workloadKey(record.hello.workload);
    let set = this.agents.get(key);
    if (!set) this.agents.set(key, (set = new Set()));
    set.add(record);
    log.info('<- agent %s of %s', record.hello.pod, key);
    record.send(this.agentBody(key));
    this.recompute(key);
    return () => {
      set.delete(record);
      if (set.size === 0) this.agents.delete(key);
      log.info('!! agent %s of %s gone', record.hello.pod, key);
      this.recompute(key);
    };
  }

  agentReady(record: AgentRecord, ids: string[]): void {
    record.applied = new Set(ids);
    const key = workloadKey(record.hello.workload);
    this.recompute(key);
    this.emit('applied', key);
  }

  /**
   * Resolves once no connected agent of the workload still applies intercept `id` (after remove(),
   * so the next connection reaches the app), or after timeoutMs: an agent that does not answer has
   * lost the manager and fails open by itself.
   */
  waitDropped(key: string, id: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (changedKey?: string): void => {
        if (changedKey !== undefined && changedKey !== key) return;
        if (this.agentsOf(key).some((a) => a.applied.has(id))) return;
        finish();
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.off('applied', check);
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.on('applied', check);
      check();
    });
  }

  /** Resolves when the intercept is ACTIVE; rejects when it is removed or the time is up. */
  waitActive(id: string, timeoutMs: number): Promise<InterceptInfo> {
    return new Promise((resolve, reject) => {
      const check = (info?: InterceptInfo): boolean => {
        const current = info?.id === id ? info : this.intercepts.get(id);
        if (current?.state === 'ACTIVE') return done(() => resolve({ ...current }));
        if (!current || current.state === 'REMOVED') return done(() => reject(new InterceptError('TP_ERR_INTERCEPT_NOT_FOUND', `The intercept was removed while waiting for it: ${current?.message ?? 'gone'}.`)));
        return false;
      };
      const onChanged = (info: InterceptInfo): void => void check(info);
      const timer = setTimeout(() => {
        done(() => reject(new InterceptError('TP_ERR_INTERCEPT_NO_AGENT', `No traffic-agent applied the intercept within ${Math.round(timeoutMs / 1000)} s (${this.intercepts.get(id)?.message ?? 'unknown state'}).`)));
      }, timeoutMs);
      const done = (finish: () => void): true => {
        clearTimeout(timer);
        this.off('changed', onChanged);
        finish();
        return true;
      };
      this.on('changed', onChanged);
      check();
    });
  }

  close(): void {
    this.intercepts.clear();
    this.agents.clear();
    this.held.clear();
    this.removeAllListeners();
  }

  private agentBody(key: string): AgentInterceptsBody {
    // Personal intercepts in creation order (first match wins), then any global one.
    const ordered = this.byWorkload(key).filter((i) => !this.held.has(i.id)).sort((a, b) => (a.mode === b.mode ? a.createdAt.localeCompare(b.createdAt) : a.mode === 'personal' ? -1 : 1));
    return { intercepts: ordered.map(({ id, name, mode, headers, pathPrefix, containerPort, client }) => ({ id, name, mode, headers, pathPrefix, containerPort, client })) };
  }

  private pushTo(key: string): void {
    const body = this.agentBody(key);
    for (const agent of this.agents.get(key) ?? []) {
      try {
        agent.send(body);
      } catch (err) {
        log.warn('!! sending intercepts to agent %s: %s', agent.hello.pod, (err as Error).message);
      }
    }
    this.recompute(key);
  }

  private recompute(key: string): void {
    const agents = [...(this.agents.get(key) ?? [])];
    for (const info of this.intercepts.values()) {
      if (workloadKey(info.workload) !== key) continue;
      let state: InterceptState = 'WAITING';
      let message: string | undefined = 'waiting for the traffic-agent';
      if (this.held.has(info.id)) {
        message = 'waiting until traffic through the Service reaches the traffic-agents';
      } else if (agents.length > 0 && agents.every((a) => a.applied.has(info.id))) {
        state = 'ACTIVE';
        message = undefined;
      } else if (agents.length > 0) {
        message = `${agents.filter((a) => a.applied.has(info.id)).length} of ${agents.length} agents applied it`;
      }
      if (info.state === state && info.message === message) continue;
      info.state = state;
      info.message = message;
      this.emit('changed', { ...info });
    }
  }
}

function sameMatch(a: Pick<InterceptInfo, 'headers' | 'pathPrefix'>, b: Pick<InterceptInfo, 'headers' | 'pathPrefix'>): boolean {
  const norm = (h?: Record<string, string>) => JSON.stringify(Object.entries(h ?? {}).map(([k, v]) => [k.toLowerCase(), v]).sort());
  return norm(a.headers) === norm(b.headers) && (a.pathPrefix ?? '') === (b.pathPrefix ?? '');
}

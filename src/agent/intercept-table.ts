// The intercepts that apply to this agent right now, as the manager last sent them
// (InterceptEvent.agentIntercepts, replace semantics), and the routing decisions made from them:
// per accepted connection (app, a global intercept, or HTTP routing for personal ones) and per
// HTTP request (first personal intercept that matches, else the app). Entries the manager sent
// in a shape this agent does not understand are dropped and reported, never thrown. clear()
// empties the table when the tunnel to the manager is gone (fail open).
import { EventEmitter } from 'node:events';
import type { AgentInterceptsBody } from '../api/control-api.js';
import { matchesIntercept, type RequestHead } from './header-match.js';

export type InterceptRule = AgentInterceptsBody['intercepts'][number];

export type ConnectionRoute =
  | { to: 'app' }
  | { to: 'global'; intercept: InterceptRule }
  | { to: 'http' };

export type RequestRoute = { to: 'app' } | { to: 'intercept'; intercept: InterceptRule };

/** A manager list would never be this long; a longer one is cut (and the rest reported). */
export const MAX_INTERCEPTS = 256;
const MAX_HEADERS_PER_INTERCEPT = 32;

export interface ParsedIntercepts {
  intercepts: InterceptRule[];
  /** Why each dropped entry was dropped. */
  problems: string[];
}

/** Checks an agentIntercepts event body; keeps every valid entry. */
export function parseInterceptsBody(body: unknown): ParsedIntercepts {
  const problems: string[] = [];
  const list = (body as { intercepts?: unknown } | null)?.intercepts;
  if (!Array.isArray(list)) return { intercepts: [], problems: ['the body has no intercepts array'] };
  const intercepts: InterceptRule[] = [];
  for (const [index, entry] of list.entries()) {
    if (intercepts.length >= MAX_INTERCEPTS) {
      problems.push(`entries past ${MAX_INTERCEPTS} were dropped`);
      break;
    }
    const problem = checkRule(entry);
    if (problem) problems.push(`entry ${index}: ${problem}`);
    else intercepts.push(entry as InterceptRule);
  }
  return { intercepts, problems };
}

function checkRule(entry: unknown): string | undefined {
  if (entry === null || typeof entry !== 'object') return 'not an object';
  const rule = entry as Record<string, unknown>;
  if (typeof rule.id !== 'string' || rule.id === '') return 'no id';
  if (rule.mode !== 'global' && rule.mode !== 'personal') return `unknown mode ${JSON.stringify(rule.mode)}`;
  if (typeof rule.containerPort !== 'number' || !Number.isInteger(rule.containerPort)) return 'no containerPort';
  if (rule.pathPrefix !== undefined && typeof rule.pathPrefix !== 'string') return 'pathPrefix is not a string';
  if (rule.headers !== undefined) {
    if (rule.headers === null || typeof rule.headers !== 'object' || Array.isArray(rule.headers)) return 'headers is not an object';
    const entries = Object.entries(rule.headers);
    if (entries.length > MAX_HEADERS_PER_INTERCEPT) return `more than ${MAX_HEADERS_PER_INTERCEPT} headers`;
    if (entries.some(([name, value]) => name === '' || typeof value !== 'string')) return 'a header is empty or not a string';
  }
  return undefined;
}

export interface InterceptTableEvents {
  changed: [intercepts: InterceptRule[]];
}

export class InterceptTable extends EventEmitter<InterceptTableEvents> {
  private rules: InterceptRule[] = [];

  get all(): readonly InterceptRule[] {
    return this.rules;
  }

  /** Replaces every intercept. */
  replace(intercepts: InterceptRule[]): void {
    this.rules = [...intercepts];
    this.emit('changed', this.rules);
  }

  clear(): void {
    if (this.rules.length === 0) return;
    this.replace([]);
  }

  /** Where a new connection to the agent port in front of `appPort` goes. */
  routeConnection(appPort: number): ConnectionRoute {
    const forPort = this.rules.filter((rule) => rule.containerPort === appPort);
    const global = forPort.find((rule) => rule.mode === 'global');
    if (global) return { to: 'global', intercept: global };
    if (forPort.length > 0) return { to: 'http' };
    return { to: 'app' };
  }

  /** Where one HTTP request on a routed connection goes: the first intercept that matches, else the app. */
  routeRequest(appPort: number, head: RequestHead): RequestRoute {
    for (const rule of this.rules) {
      if (rule.containerPort !== appPort) continue;
      if (rule.mode === 'global' || matchesIntercept(rule, head)) return { to: 'intercept', intercept: rule };
    }
    return { to: 'app' };
  }
}

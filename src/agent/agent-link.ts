// The agent's tunnel to the traffic-manager: connect with the agent token, say AgentMethod.hello
// (workload, pod, ports, app environment), take every InterceptEvent.agentIntercepts into the
// intercept table (replace semantics) and confirm with AgentMethod.ready, and open one stream per
// intercepted connection. When the tunnel goes, the table is emptied at once (fail open: traffic
// goes to the app) and a new tunnel is tried after a capped, jittered backoff, forever, until
// close(). The manager may open a stream to us (VOLUMES_STREAM_HOST) for a laptop's copy of the
// app's volume mounts: served by src/volumes/source.ts with the mounts in `volumes`.
// Leaves out listening and routing (agent.ts and the forwarders).
// Logs under `tp:agent:manager`; the token and environment values never reach a log.
import { EventEmitter } from 'node:events';
import { logger } from '../log/logger.js';
import { AgentMethod, INTERCEPT_STREAM_HOST, InterceptEvent, VOLUMES_STREAM_HOST, type AgentHelloParams, type AgentReadyParams } from '../api/control-api.js';
import { connectTunnel, TunnelError, type ControlEvent, type IncomingOpen, type Session, type SessionOptions, type TunnelStream } from '../tunnel/index.js';
import { serveVolumeStream, type AgentMount } from '../volumes/source.js';
import { parseInterceptsBody, type InterceptRule, type InterceptTable } from './intercept-table.js';

const log = logger('tp:agent:manager');

export const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 10_000 } as const;
const HELLO_TIMEOUT_MS = 10_000;

export interface AgentLinkOptions {
  managerUrl: string;
  token: string;
  hello: AgentHelloParams;
  table: InterceptTable;
  /** Reconnect delays: doubles from initialMs up to maxMs (each with up to 20% jitter). */
  backoff?: { initialMs: number; maxMs: number };
  /** Options of each tunnel Session (keepalive, timeouts). */
  session?: Omit<SessionOptions, 'role'>;
  /** The app's volume mounts as this agent sees them (served to laptops that copy them). */
  volumes?: AgentMount[];
}

export type AgentLinkState = 'connecting' | 'connected' | 'closed';

export interface AgentLinkStatus {
  state: AgentLinkState;
  sessionId?: string;
  /** Tunnels that came up, in total. */
  connects: number;
  lastError?: string;
}

export interface AgentLinkEvents {
  state: [AgentLinkState];
  /** The manager sent a list and it was applied (ids of the applied intercepts). */
  applied: [ids: string[]];
}

export class AgentLink extends EventEmitter<AgentLinkEvents> {
  private session: Session | null = null;
  private state: AgentLinkState = 'connecting';
  private connects = 0;
  private failures = 0;
  private lastError: string | undefined;
  private retryTimer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly options: AgentLinkOptions) {
    super();
  }

  /** Starts connecting in the background; failures are retried, never thrown. */
  start(): void {
    if (this.running || this.state === 'closed') return;
    this.running = true;
    void this.connectOnce();
  }

  status(): AgentLinkStatus {
    return { state: this.state, sessionId: this.session?.id, connects: this.connects, lastError: this.lastError };
  }

  /** Opens the stream that carries one intercepted connection to the manager (and on to the client). */
  openInterceptStream(intercept: InterceptRule, peer: string): Promise<TunnelStream> {
    const session = this.session;
    if (!session?.live) return Promise.reject(new TunnelError('TP_ERR_TUNNEL_NO_SESSION', 'no tunnel to the traffic-manager'));
    return session.open({ host: INTERCEPT_STREAM_HOST, port: 0, metadata: { intercept: intercept.id, peer } });
  }

  /** Stops reconnecting and closes the tunnel (open streams may finish). Idempotent. */
  async close(): Promise<void> {
    this.stop();
    await this.session?.close();
  }

  /** Stops reconnecting and ends the tunnel now. Idempotent. */
  destroy(): void {
    this.stop();
    this.session?.destroy();
  }

  private stop(): void {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState('closed');
  }

  private async connectOnce(): Promise<void> {
    this.retryTimer = null;
    const { managerUrl, token } = this.options;
    let session: Session;
    try {
      session = await connectTunnel(managerUrl, { token, session: this.options.session });
    } catch (error) {
      return this.retryAfter(error as Error);
    }
    if (!this.running) {
      session.destroy();
      return;
    }
    this.session = session;
    // Listen before hello: the manager may send the list before it answers.
    session.on('control', (event: ControlEvent) => this.onControl(session, event));
    session.once('close', (error?: Error) => this.onSessionClose(session, error));
    session.on('stream', (open: IncomingOpen) => this.onStream(open));
    try {
      await session.request(AgentMethod.hello, this.options.hello, { timeoutMs: HELLO_TIMEOUT_MS });
    } catch (error) {
      log.warn('!! %s hello refused: %s', session.id, (error as Error).message);
      session.destroy(error as Error);
      return;
    }
    if (session.closed) return;
    this.connects++;
    this.failures = 0;
    this.lastError = undefined;
    log.info('-> tunnel %s up, hello said for %s/%s', session.id, this.options.hello.workload.kind, this.options.hello.workload.name);
    this.setState('connected');
  }

  private volumeStreams = 0;

  private onStream(open: IncomingOpen): void {
    if (open.host !== VOLUMES_STREAM_HOST) return open.reject('refused', 'an agent takes only volume streams');
    const id = `v${++this.volumeStreams}`;
    log.info('<- %s volume copy', id);
    serveVolumeStream(open.accept(), this.options.volumes ?? [], id);
  }

  private onControl(session: Session, event: ControlEvent): void {
    if (event.type !== InterceptEvent.agentIntercepts || session !== this.session) return;
    const { intercepts, problems } = parseInterceptsBody(event.body);
    for (const problem of problems) log.warn('!! %s intercept list: %s', session.id, problem);
    this.options.table.replace(intercepts);
    const ids = intercepts.map((rule) => rule.id);
    log.info('<- %s intercept list: %s', session.id, ids.length === 0 ? '(none)' : intercepts.map((r) => `${r.id}(${r.mode} :${r.containerPort})`).join(' '));
    this.emit('applied', ids);
    const ready: AgentReadyParams = { ids };
    session.request(AgentMethod.ready, ready).catch((error: unknown) => log.warn('!! %s ready not confirmed: %s', session.id, (error as Error).message));
  }

  private onSessionClose(session: Session, error?: Error): void {
    if (session !== this.session) return;
    this.session = null;
    // Fail open: nothing is intercepted while no manager can reach a client.
    this.options.table.clear();
    if (!this.running) return;
    this.retryAfter(error ?? new Error('the tunnel closed'));
  }

  private retryAfter(error: Error): void {
    if (!this.running) return;
    this.failures++;
    this.lastError = error.message;
    this.setState('connecting');
    const { initialMs, maxMs } = this.options.backoff ?? DEFAULT_BACKOFF;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = Math.round(base * (1 - Math.random() * 0.2));
    log.warn('!! tunnel to %s: %s; retrying in %d ms', this.options.managerUrl, error.message, delay);
    this.retryTimer = setTimeout(() => void this.connectOnce(), delay);
    this.retryTimer.unref();
  }

  private setState(state: AgentLinkState): void {
    if (this.state === state || this.state === 'closed') return;
    this.state = state;
    this.emit('state', state);
  }
}

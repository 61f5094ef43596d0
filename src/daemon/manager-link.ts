// The daemon's link to the traffic-manager: a pool of tunnel sessions, each reached through the
// Kubernetes API's port-forward to the manager pod (RBAC decides who may) or through a URL given
// with --manager-url (then with the client token read from the manager's Secret, which only
// users RBAC lets read it can get). Each new tunnel says hello and resumes the client session, so
// a manager restart or a dropped port-forward heals itself: the pool replaces dead tunnels and
// the next one finds the manager's new pod. After a failed attempt the next waits a bounded,
// jittered back-off (so a crowd of daemons does not hammer a restarting API server together), and
// status() says since when the link is down, how often it tried and what went wrong, with any
// token scrubbed from the error text.
import { EventEmitter } from 'node:events';
import { hostname, userInfo } from 'node:os';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { logger } from '../log/logger.js';
import { TpError } from '../errors.js';
import { isNotFound, kubeCall, kubeError } from '../k8s/api-errors.js';
import { openPortForward } from '../k8s/port-forward.js';
import { API_VERSION, ManagerEvent, ManagerMethod, type HelloResult, type ResolveResult } from '../api/control-api.js';
import type { ClusterInfo } from '../api/cluster-info.js';
import { CLIENT_TOKEN_KEY, CLIENT_TOKEN_SECRET, MANAGER_NAME, MANAGER_PORT_FORWARD_PORT, MANAGER_SELECTOR } from '../api/names.js';
import { connectTunnel, SessionPool, TunnelError, type IncomingOpen, type OpenMetadata, type Session, type TunnelStream } from '../tunnel/index.js';
import { TP_VERSION } from '../version.js';
import { backoffDelayMs } from './backoff.js';
import { capacityFrom } from './capacity.js';

const log = logger('tp:daemon:manager');

export interface ManagerLinkOptions {
  kc: KubeConfig;
  managerNamespace: string;
  managerUrl?: string;
  /** The namespace the user connects to (single-label names resolve there). */
  namespace: string;
  /** Tunnels kept open to the manager. Default 2. */
  tunnels?: number;
}

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Back-off after the first failed reconnect attempt; doubles per failure up to the maximum. */
const RECONNECT_FIRST_DELAY_MS = 250;
/** The longest wait between attempts: a request made meanwhile waits at most about this long. */
const RECONNECT_MAX_DELAY_MS = 5_000;

/** The wait before attempt `failures + 1`: exponential, capped, with jitter in [half, full]. */
export function reconnectDelayMs(failures: number, random: () => number = Math.random): number {
  return backoffDelayMs(failures, RECONNECT_FIRST_DELAY_MS, RECONNECT_MAX_DELAY_MS, random);
}

/** Error text as shown in status and logs: credentials in URLs, bearer tokens and the given secrets removed. */
export function scrubSecrets(text: string, secrets: Iterable<string> = []): string {
  let clean = text.replace(/(\w+:\/\/)[^/\s:@]+(?::[^/\s@]*)?@/g, '$1[redacted]@').replace(/\b(Bearer|token=)\s*[\w.~+/=-]+/gi, '$1 [redacted]');
  for (const secret of secrets) clean = clean.split(secret).join('[redacted]');
  return clean;
}

/** A period without any live tunnel. */
export interface LinkOutage {
  /** ISO time the last tunnel went down. */
  since: string;
  /** ISO time a tunnel was up again (absent while the outage lasts). */
  until?: string;
  /** Failed attempts to reconnect so far. */
  attempts: number;
  /** What the last attempt (or the tunnel's end) said. */
  lastError?: string;
  /** ISO time of the next attempt while one is waiting. */
  nextAttemptAt?: string;
}

export interface ManagerLinkStatus {
  state: LinkState;
  via: 'port-forward' | 'url';
  managerPod?: string;
  managerVersion?: string;
  sessionId?: string;
  /** ISO time the link entered its current state. */
  stateSince: string;
  reconnects: number;
  lastError?: string;
  /** The outage going on now, or else the last one. */
  outage?: LinkOutage;
  tunnels: { id: string; openStreams: number; bytesIn: number; bytesOut: number; rttMs?: number }[];
}

export interface ManagerLinkEvents {
  clusterInfo: [ClusterInfo];
  state: [LinkState];
  /** After every hello (first connect, each new tunnel, resumed or not): features re-register here. */
  hello: [HelloResult];
  /** Control events from the manager other than cluster info. */
  event: [type: string, body: unknown];
}

/** Handles a stream the manager opens toward this client (intercepted connections). */
export type IncomingStreamHandler = (open: IncomingOpen) => void;

export class ManagerLink extends EventEmitter<ManagerLinkEvents> {
  private pool: SessionPool | null = null;
  private lastHello: HelloResult | undefined;
  private incoming: IncomingStreamHandler = (open) => open.reject('forbidden', 'this client accepts no streams');
  private state: LinkState = 'connecting';
  private sessionId: string | undefined;
  private managerVersion: string | undefined;
  private managerPod: string | undefined;
  private reconnects = 0;
  private lastError: string | undefined;
  private stateSince = new Date().toISOString();
  private outage: LinkOutage | undefined;
  /** Failed connects since the last good one: sets the back-off. */
  private failures = 0;
  /** Strings never to show (the client token once read). */
  private readonly secrets = new Set<string>();
  private readonly client = `${userInfo().username}@${hostname()}`;

  constructor(private readonly options: ManagerLinkOptions) {
    super();
  }

  /** Connects the first tunnel (its errors are the user's to see), then fills the pool. */
  async start(): Promise<HelloResult> {
    const capacity = capacityFrom(process.env);
    let first: Session | null = await this.connect();
    const hello = this.lastHello!;
    this.pool = new SessionPool({
      size: this.options.tunnels ?? 2,
      maxSessions: capacity.maxTunnels,
      maxStreams: capacity.maxConnections,
      connect: () => {
        const session = first;
        first = null;
        return session ? Promise.resolve(session) : this.connect();
      },
    });
    await this.pool.start();
    return hello;
  }

  async open(host: string, port: number, metadata?: OpenMetadata): Promise<TunnelStream> {
    return this.livePool().open({ host, port, ...(metadata && { metadata }) });
  }

  /** A control request to the manager (on the least-loaded tunnel). */
  async request(method: string, params: unknown, timeoutMs = 30_000): Promise<unknown> {
    return this.livePool().request(method, params, { timeoutMs });
  }

  /** Who answers streams the manager opens toward us; by default they are refused. */
  setIncomingStreamHandler(handler: IncomingStreamHandler): void {
    this.incoming = handler;
  }

  /** Our client session id at the manager (changes if the manager forgot us). */
  get session(): string | undefined {
    return this.sessionId;
  }

  async resolve(name: string, type: string): Promise<ResolveResult> {
    return (await this.livePool().request(ManagerMethod.resolve, { name, type }, { timeoutMs: 3000 })) as ResolveResult;
  }

  status(): ManagerLinkStatus {
    return {
      state: this.state,
      via: this.options.managerUrl ? 'url' : 'port-forward',
      managerPod: this.managerPod,
      managerVersion: this.managerVersion,
      sessionId: this.sessionId,
      stateSince: this.stateSince,
      reconnects: this.reconnects,
      lastError: this.lastError,
      outage: this.outage && { ...this.outage },
      tunnels: (this.pool?.liveSessions ?? []).map((s) => {
        const stats = s.stats();
        return { id: stats.id, openStreams: stats.openStreams, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut, rttMs: stats.rttMs };
      }),
    };
  }

  async close(): Promise<void> {
    this.setState('closed');
    await this.pool?.close();
  }

  private livePool(): SessionPool {
    if (!this.pool) throw new TunnelError('TP_ERR_TUNNEL_NO_SESSION', 'not connected to the traffic-manager yet');
    return this.pool;
  }

  /** One tunnel: reach the manager, say hello (resuming our session), follow its events. */
  private async connect(): Promise<Session> {
    await this.backOff();
    let session: Session;
    try {
      session = this.options.managerUrl ? await this.connectByUrl(this.options.managerUrl) : await this.connectByPortForward();
      // Measure the round trip at once rather than at the first keepalive ping: the manager answers
      // the ping before the hello, so `tp status` has the figure as soon as the tunnel is live.
      session.ping().catch(() => undefined);
      const hello = (await session.request(
        ManagerMethod.hello,
        { client: this.client, namespace: this.options.namespace, version: TP_VERSION, resume: this.sessionId },
        { timeoutMs: 10_000 },
      )) as HelloResult;
      checkManagerApi(hello);
      if (this.sessionId && !hello.resumed) log.warn('!! manager forgot session %s; now %s', this.sessionId, hello.sessionId);
      this.sessionId = hello.sessionId;
      this.managerVersion = hello.managerVersion;
      this.lastHello = hello;
      this.emit('clusterInfo', hello.clusterInfo);
      this.emit('hello', hello);
    } catch (err) {
      this.failed(err as Error);
      throw err;
    }
    session.on('control', (event: { type: string; body: unknown }) => {
      if (event.type === ManagerEvent.clusterInfo) this.emit('clusterInfo', event.body as ClusterInfo);
      else this.emit('event', event.type, event.body);
    });
    session.on('stream', (open: IncomingOpen) => this.incoming(open));
    session.once('close', (error?: Error) => {
      if (this.state === 'closed') return;
      this.reconnects++;
      if ((this.pool?.liveSessions.length ?? 0) > 0) return;
      const reason = this.scrub(error?.message ?? 'the tunnel closed');
      log('!! no tunnel to the manager left (%s); reconnecting', reason);
      if (!this.outage || this.outage.until) this.outage = { since: new Date().toISOString(), attempts: 0, lastError: reason };
      this.setState('reconnecting');
    });
    this.failures = 0;
    this.lastError = undefined;
    if (this.outage && !this.outage.until) {
      this.outage = { ...this.outage, until: new Date().toISOString(), nextAttemptAt: undefined };
      log('-> reconnected after %d ms and %d failed attempts', Date.parse(this.outage.until!) - Date.parse(this.outage.since), this.outage.attempts);
    }
    this.setState('connected');
    log.info('-> tunnel %s up (session %s)', session.id, this.sessionId);
    return session;
  }

  /** Waits before an attempt that follows failed ones (never before the first). */
  private async backOff(): Promise<void> {
    const delay = reconnectDelayMs(this.failures);
    if (delay === 0 || this.state === 'closed') return;
    if (this.outage && !this.outage.until) this.outage.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
    if (this.outage) this.outage.nextAttemptAt = undefined;
  }

  private failed(error: Error): void {
    this.failures++;
    this.lastError = this.scrub(error.message);
    if (this.state === 'connected' && (this.pool?.liveSessions.length ?? 0) === 0) {
      this.outage = { since: new Date().toISOString(), attempts: 0 };
      this.setState('reconnecting');
    }
    if (this.outage && !this.outage.until) {
      this.outage.attempts++;
      this.outage.lastError = this.lastError;
    }
    log('!! connecting to the manager failed (attempt %d): %s', this.failures, this.lastError);
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.secrets);
  }

  private async connectByPortForward(): Promise<Session> {
    const { kc, managerNamespace } = this.options;
    const pod = await this.findManagerPod();
    this.managerPod = pod;
    const stream = await openPortForward(kc, managerNamespace, pod, MANAGER_PORT_FORWARD_PORT);
    // The port-forward listener authenticates by RBAC, not by token: any bearer value will do.
    return connectTunnel(`ws://${MANAGER_NAME}.${managerNamespace}/tunnel`, { token: 'port-forward', createConnection: () => stream });
  }

  private async connectByUrl(url: string): Promise<Session> {
    const token = await this.readClientToken();
    try {
      return await connectTunnel(url, { token });
    } catch (err) {
      if ((err as TunnelError).code === 'TP_ERR_TUNNEL_UNAUTHORIZED') {
        throw new TpError('TP_ERR_MANAGER_UNAUTHORIZED', `The traffic-manager at ${this.scrub(url)} refused the client token.`, {
          cause: err,
          hints: ['The manager may have been reinstalled with a new token: run `tp quit`, then `tp connect` again.'],
        });
      }
      throw new TpError('TP_ERR_MANAGER_UNREACHABLE', `Could not reach the traffic-manager at ${this.scrub(url)}: ${this.scrub((err as Error).message)}`, {
        cause: err,
        hints: ['Check the URL, or leave out --manager-url to go through the Kubernetes API.'],
      });
    }
  }

  private async readClientToken(): Promise<string> {
    const core = this.options.kc.makeApiClient(CoreV1Api);
    const ns = this.options.managerNamespace;
    try {
      const secret = await core.readNamespacedSecret({ name: CLIENT_TOKEN_SECRET, namespace: ns });
      const value = secret.data?.[CLIENT_TOKEN_KEY];
      if (!value) throw new Error(`secret ${ns}/${CLIENT_TOKEN_SECRET} has no "${CLIENT_TOKEN_KEY}" key`);
      const token = Buffer.from(value, 'base64').toString('utf8');
      if (token.length >= 8) this.secrets.add(token);
      return token;
    } catch (err) {
      if (isNotFound(err)) throw notInstalled(ns);
      throw kubeError(`reading the client token (secret ${ns}/${CLIENT_TOKEN_SECRET})`, err);
    }
  }

  /** The newest ready manager pod; a clear error when there is none. */
  private async findManagerPod(): Promise<string> {
    const { kc, managerNamespace: namespace } = this.options;
    const selector = Object.entries(MANAGER_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await kubeCall('finding the traffic-manager pod', () => kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: selector }));
    const ready = pods.items.filter(isReady).sort((a, b) => String(b.metadata?.creationTimestamp).localeCompare(String(a.metadata?.creationTimestamp)));
    if (ready.length > 0) return ready[0].metadata!.name!;
    try {
      await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: MANAGER_NAME, namespace });
    } catch (err) {
      if (isNotFound(err)) throw notInstalled(namespace);
      throw kubeError('reading the traffic-manager Deployment', err);
    }
    throw new TpError('TP_ERR_MANAGER_NOT_READY', `The traffic-manager in namespace "${namespace}" has no ready pod.`, {
      hints: [`See why: kubectl -n ${namespace} describe pod -l ${selector}`],
    });
  }

  private setState(state: LinkState): void {
    if (this.state === state) return;
    this.state = state;
    this.stateSince = new Date().toISOString();
    this.emit('state', state);
  }
}

function isReady(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function notInstalled(namespace: string): TpError {
  return new TpError('TP_ERR_MANAGER_NOT_INSTALLED', `The traffic-manager is not installed in namespace "${namespace}".`, {
    hints: [namespace === 'tp' ? 'Install it: tp manager install' : `Install it: tp manager install --manager-namespace ${namespace}`],
  });
}

/** A manager of another API_VERSION (control-api.ts) is refused before anything is asked of it. */
export function checkManagerApi(hello: Pick<HelloResult, 'apiVersion' | 'managerVersion'>): void {
  const managerApi = hello.apiVersion ?? 1;
  if (managerApi === API_VERSION) return;
  throw new TpError('TP_ERR_MANAGER_API_VERSION', `The traffic-manager (tp ${hello.managerVersion}) speaks API ${managerApi}; this tp (${TP_VERSION}) speaks API ${API_VERSION}.`, {
    hints: ['Install the manager of this tp: tp manager install --upgrade', 'Or use the tp release that installed the manager.'],
  });
}

// The traffic-agent: one TCP listener per agent port, the tunnel to the traffic-manager, and the
// per-connection decision. A connection accepted on an agent port goes, by the intercepts of the
// app port behind it at that moment: nowhere special → piped byte for byte to the app; a global
// intercept → into a tunnel stream (the app if none can be opened); personal intercepts → the
// HTTP router, which decides per request (if the first bytes are HTTP/1; h2c prior knowledge and
// other protocols go to the app unrouted). While the manager is unreachable the table is empty, so
// everything reaches the app (fail open). A connection keeps the path chosen when it was accepted
// (a raw pipe is never re-parsed), but the HTTP router reads the table afresh for each request;
// connections and upstream streams of an intercept that leaves the table are closed.
// With a health port (health.ts) it answers the kubelet's readiness probe there: ready while it
// serves its ports and is not closing.
// close() stops accepting, ends idle keep-alive connections, waits for the rest (closeTimeoutMs),
// then destroys them and closes the tunnel. Used by `tp agent serve` and the tests.
// Logs under `tp:agent`, one connection followable by its id (c1, c2…; requests c1.1, c1.2…).
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { closeGracefully, ConnectionSet } from '../net/connection-set.js';
import type { SessionOptions } from '../tunnel/index.js';
import { TP_VERSION } from '../version.js';
import type { AgentConfig, AgentPort } from './config.js';
import { HttpRouter } from './http-router.js';
import { InterceptTable, type InterceptRule } from './intercept-table.js';
import { AgentLink, type AgentLinkStatus } from './agent-link.js';
import { forwardToApp, forwardToIntercept } from './raw-forwarder.js';
import type { AgentMount } from '../volumes/source.js';
import { growHeapForRelaying } from '../tunnel/heap-growth.js';
import { HealthListener } from './health.js';

const log = logger('tp:agent');

/** RFC 9113 §3.4: the client connection preface of HTTP/2 with prior knowledge. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What a connection's first bytes look like: HTTP/1 (a method token), the HTTP/2 preface, or something else. */
export function firstBytesKind(first: Buffer): 'http1' | 'h2c' | 'other' {
  const n = Math.min(first.length, HTTP2_PREFACE.length);
  if (n > 0 && first.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) return 'h2c';
  // RFC 9110 §9: methods are tokens; every registered one starts with an uppercase letter.
  return first.length > 0 && first[0] >= 0x41 && first[0] <= 0x5a ? 'http1' : 'other';
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** Where Kubernetes mounts the pod's service account token in every container that does not opt out. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The app's mounts plus the service account dir: the admission controller mounts the same
 * projected token volume in every container of the pod, so the agent's own is the app's, unless
 * the app mounts something else there (then it is among the app's mounts).
 */
function withServiceAccount(mounts: AgentMount[]): AgentMount[] {
  if (mounts.some((m) => m.path === SERVICE_ACCOUNT_PATH) || !existsSync(SERVICE_ACCOUNT_PATH)) return mounts;
  return [...mounts, { path: SERVICE_ACCOUNT_PATH, at: SERVICE_ACCOUNT_PATH, rw: false }];
}

export interface AgentOptions {
  /** Where agent ports listen. Default 0.0.0.0: the Service sends traffic to the pod's IP. */
  listenHost?: string;
  /** Where the app listens. Default 127.0.0.1 (the pod's shared loopback). */
  appHost?: string;
  /** close() waits this long for connections to finish. Default 10 s. */
  closeTimeoutMs?: number;
  /** Reconnect delays to the manager. */
  backoff?: { initialMs: number; maxMs: number };
  /** Options of the tunnel session to the manager. */
  session?: Omit<SessionOptions, 'role'>;
}

export interface AgentListener extends AgentPort {
  /** The port actually bound (differs from agentPort only when agentPort is 0). */
  boundPort: number;
}

export interface AgentStatus {
  manager: AgentLinkStatus;
  listeners: AgentListener[];
  intercepts: InterceptRule[];
  openConnections: number;
}

interface PortState {
  port: AgentPort;
  server: Server;
  router: HttpRouter;
  boundPort: number;
}

export class TrafficAgent {
  readonly table = new InterceptTable();
  readonly manager: AgentLink;
  private readonly ports: PortState[] = [];
  private readonly connections = new ConnectionSet();
  private readonly appHost: string;
  /** Client connections forwarded to each global intercept, so they end with it. */
  private readonly globalConnections = new Map<string, Set<Socket>>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private health: HealthListener | null = null;
  /** The health port bound, once start() bound it (null without a health port). */
  healthPort: number | null = null;

  constructor(
    private readonly config: AgentConfig,
    private readonly options: AgentOptions = {},
  ) {
    this.appHost = options.appHost ?? '127.0.0.1';
    this.manager = new AgentLink({
      managerUrl: config.managerUrl,
      token: config.token,
      table: this.table,
      backoff: options.backoff,
      session: options.session,
      volumes: withServiceAccount(config.mounts ?? []),
      hello: {
        workload: config.workload,
        pod: config.pod,
        podIp: config.podIp,
        container: config.container,
        ports: config.ports.map(({ name, agentPort, appPort }) => (name === undefined ? { agentPort, appPort } : { name, agentPort, appPort })),
        environment: config.environment,
        version: TP_VERSION,
      },
    });
    this.table.on('changed', (intercepts) => this.onTableChanged(intercepts));
  }

  /** An intercept gone from the table takes its connections with it; new ones go where the table says. */
  private onTableChanged(intercepts: InterceptRule[]): void {
    const remaining = new Set(intercepts.map((rule) => rule.id));
    for (const [id, sockets] of this.globalConnections) {
      if (remaining.has(id)) continue;
      this.globalConnections.delete(id);
      if (sockets.size > 0) log.info('-- intercept %s ended; closing its %d connection(s)', id, sockets.size);
      for (const socket of sockets) socket.destroy();
    }
    for (const state of this.ports) state.router.dropIntercepts(remaining);
  }

  /** Binds every agent port (rejects if one cannot be bound), then starts the manager tunnel in the background. */
  async start(): Promise<AgentListener[]> {
    growHeapForRelaying();
    try {
      for (const port of this.config.ports) this.ports.push(await this.listen(port));
      if (this.config.healthPort !== undefined) {
        this.health = new HealthListener(() => this.closing === null);
        this.healthPort = await this.health.start(this.config.healthPort, this.options.listenHost ?? '0.0.0.0');
      }
    } catch (error) {
      await this.destroy();
      throw error;
    }
    log.info('.. agent for %s/%s in pod %s; environment keys: %s', this.config.workload.kind, this.config.workload.name, this.config.pod, Object.keys(this.config.environment).sort().join(' '));
    this.manager.start();
    return this.listeners();
  }

  listeners(): AgentListener[] {
    return this.ports.map(({ port, boundPort }) => ({ ...port, boundPort }));
  }

  status(): AgentStatus {
    return { manager: this.manager.status(), listeners: this.listeners(), intercepts: [...this.table.all], openConnections: this.connections.size };
  }

  /** Stops accepting, lets open connections finish (up to closeTimeoutMs), then closes the tunnel. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const timeoutMs = this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
      await Promise.all(this.ports.map((state) => closeGracefully(state.server, this.connections, timeoutMs, () => state.router.closeIdle())));
      await this.manager.close();
      await this.health?.close();
    })();
    return this.closing;
  }

  /** Ends every connection and the tunnel now. Idempotent. */
  destroy(): Promise<void> {
    this.manager.destroy();
    this.connections.destroyAll();
    this.closing ??= Promise.all([...this.ports.map((state) => closeGracefully(state.server, this.connections, 0)), this.health?.close()]).then(() => undefined);
    return this.closing;
  }

  private async listen(port: AgentPort): Promise<PortState> {
    const router = new HttpRouter({
      appHost: this.appHost,
      appPort: port.appPort,
      table: this.table,
      openIntercept: (intercept, peer) => this.manager.openInterceptStream(intercept, peer),
    });
    const server = createServer({ allowHalfOpen: true }, (socket) => this.onConnection(port, router, socket));
    server.on('error', (error) => log.error('!! listener :%d error %s', port.agentPort, error.message));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port.agentPort, this.options.listenHost ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const boundPort = (server.address() as AddressInfo).port;
    log.info('.. listening on %s:%d for app port %d', this.options.listenHost ?? '0.0.0.0', boundPort, port.appPort);
    return { port, server, router, boundPort };
  }

  /**
   * Only HTTP/1 is routed per request: a connection whose first bytes are the HTTP/2 preface (h2c
   * prior knowledge, gRPC) or do not start with a method token (TLS, other protocols) goes to the
   * app byte for byte, as it would with no intercept.
   */
  private routeByFirstBytes(socket: Socket, router: HttpRouter, app: { host: string; port: number }, id: string, peer: string): void {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const kind = firstBytesKind(first);
      if (kind === 'http1') {
        log('-> %s %s → http router :%d', id, peer, app.port);
        router.handle(socket, id);
        // The HTTP server reads on from the (paused) socket's buffer, where the first bytes went back.
        socket.resume();
      } else {
        log('-> %s %s → app :%d (%s, not routed)', id, peer, app.port, kind);
        forwardToApp(socket, app, id);
      }
    });
  }

  private trackGlobal(interceptId: string, socket: Socket): void {
    let sockets = this.globalConnections.get(interceptId);
    if (!sockets) this.globalConnections.set(interceptId, (sockets = new Set()));
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  private onConnection(port: AgentPort, router: HttpRouter, socket: Socket): void {
    const id = `c${this.nextId++}`;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.connections.add(socket);
    socket.on('error', (error) => log('!! %s client %s', id, error.message));
    const app = { host: this.appHost, port: port.appPort };
    const route = this.table.routeConnection(port.appPort);
    switch (route.to) {
      case 'app':
        log('-> %s %s → app :%d', id, peer, port.appPort);
        forwardToApp(socket, app, id);
        return;
      case 'global':
        log('-> %s %s → intercept %s', id, peer, route.intercept.id);
        this.trackGlobal(route.intercept.id, socket);
        forwardToIntercept(socket, () => this.manager.openInterceptStream(route.intercept, peer), app, id);
        return;
      case 'http':
        this.routeByFirstBytes(socket, router, app, id, peer);
        return;
    }
  }
}

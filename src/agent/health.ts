// The traffic-agent's own health listener: the kubelet's readiness probe asks `GET /ready` on a
// port of its own (TP_AGENT_HEALTH_PORT), so probes never reach the agent's Service ports, where
// every connection is forwarded (under a global intercept, to a developer's laptop).
// Ready means the agent serves its ports and is not shutting down. It does not mean the manager is
// reachable: without it the agent passes every connection to the app, so the pod serves as it
// would without tp, and a manager restart must not take every agent's pod out of its Services.
// The port listens on the pod's address, so anyone who can reach the pod can connect to it: it must
// not be possible to starve the kubelet's probe with connections that say nothing. A probe asks at
// once on a new connection and is answered within milliseconds, so a connection that is silent or
// slow for IDLE_MS is closed (checked every CHECK_MS, not Node's 30 s), and at the cap a new
// connection takes the place of the oldest one instead of being refused: a flood would have to open
// MAX_HEALTH_CONNECTIONS connections in the milliseconds a probe takes to push the kubelet's out.
// Small requests only (a probe). Used by agent.ts.
import type { Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import { listen } from '../net/connection-set.js';
import { logger } from '../log/logger.js';

const log = logger('tp:agent:health');

/** Part of the agent contract: the injector (src/inject/agent-patch.ts) points the probe here. */
export const READY_PATH = '/ready';

/** A probe's request is a request line and a few headers. */
const MAX_HEADER_BYTES = 4096;
/** A connection silent this long, or whose request is not in by then, is closed (the kubelet's own probe timeout is 1 s by default). */
const IDLE_MS = 2_000;
/** How often Node checks the request deadlines (its default, 30 s, would let silent connections pile up). */
const CHECK_MS = 500;
/**
 * Connections held at once; past it the oldest goes. Generous, because it is no admission limit (a
 * new connection is never refused), only a bound on the sockets and memory an outsider can make
 * the agent hold: a few hundred file descriptors, against the thousands its Service ports may use.
 */
export const MAX_HEALTH_CONNECTIONS = 256;

export class HealthListener {
  private readonly server: Server;
  /** Open connections, oldest first (a Set keeps insertion order). */
  private readonly open = new Set<Socket>();

  /** `idleMs` replaces IDLE_MS (a test that must see the cap alone at work sets it far off). */
  constructor(private readonly isReady: () => boolean, options: { idleMs?: number } = {}) {
    const idleMs = options.idleMs ?? IDLE_MS;
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: idleMs, headersTimeout: idleMs, keepAliveTimeout: idleMs, connectionsCheckingInterval: CHECK_MS }, (request, response) => {
      const path = (request.url ?? '').split('?')[0];
      const status = path !== READY_PATH ? 404 : request.method !== 'GET' && request.method !== 'HEAD' ? 405 : this.isReady() ? 200 : 503;
      const body = status === 200 ? 'ready\n' : status === 503 ? 'not ready\n' : status === 404 ? `try GET ${READY_PATH}\n` : 'GET only\n';
      response.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...(status === 405 ? { allow: 'GET, HEAD' } : {}) });
      response.end(request.method === 'HEAD' ? undefined : body);
      // The request body (a probe sends none) is not read: drop it rather than buffer it.
      request.resume();
    });
    // No 'timeout' listener: Node destroys a socket idle for IDLE_MS.
    this.server.setTimeout(idleMs);
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.server.on('clientError', (_error, socket) => socket.destroy());
    this.server.on('error', (error) => log.error('!! health listener error %s', error.message));
  }

  /** Keeps the connections in arrival order; one past the cap closes the oldest. */
  private admit(socket: Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    if (this.open.size <= MAX_HEALTH_CONNECTIONS) return;
    const oldest = this.open.values().next().value!;
    this.open.delete(oldest);
    oldest.destroy();
  }

  /** Binds host:port; resolves with the port bound. */
  async start(port: number, host: string): Promise<number> {
    const address = await listen(this.server, port, host);
    log.info('.. answering readiness on %s:%d%s', host, address.port, READY_PATH);
    return address.port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }
}

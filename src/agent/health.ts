// The traffic-agent's own health listener: the kubelet's readiness probe asks `GET /ready` on a
// port of its own (TP_AGENT_HEALTH_PORT), so probes never reach the agent's Service ports, where
// every connection is forwarded (under a global intercept, to a developer's laptop).
// Ready means the agent serves its ports and is not shutting down. It does not mean the manager is
// reachable: without it the agent passes every connection to the app, so the pod serves as it
// would without tp, and a manager restart must not take every agent's pod out of its Services.
// Small requests only (a probe), short deadlines, few connections. Used by agent.ts.
import { createServer, type Server } from 'node:http';
import { listen } from '../net/connection-set.js';
import { logger } from '../log/logger.js';

const log = logger('tp:agent:health');

/** Part of the agent contract: the injector (src/inject/agent-patch.ts) points the probe here. */
export const READY_PATH = '/ready';

/** A probe's request is a request line and a few headers. */
const MAX_HEADER_BYTES = 4096;
const REQUEST_TIMEOUT_MS = 5_000;
const KEEP_ALIVE_TIMEOUT_MS = 2_000;
/** The kubelet probes one at a time; a few more for a person with curl. */
const MAX_CONNECTIONS = 16;

export class HealthListener {
  private readonly server: Server;

  constructor(private readonly isReady: () => boolean) {
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => {
      const path = (request.url ?? '').split('?')[0];
      const status = path !== READY_PATH ? 404 : request.method !== 'GET' && request.method !== 'HEAD' ? 405 : this.isReady() ? 200 : 503;
      const body = status === 200 ? 'ready\n' : status === 503 ? 'not ready\n' : status === 404 ? `try GET ${READY_PATH}\n` : 'GET only\n';
      response.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...(status === 405 ? { allow: 'GET, HEAD' } : {}) });
      response.end(request.method === 'HEAD' ? undefined : body);
      // The request body (a probe sends none) is not read: drop it rather than buffer it.
      request.resume();
    });
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.on('clientError', (_error, socket) => socket.destroy());
    this.server.on('error', (error) => log.error('!! health listener error %s', error.message));
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

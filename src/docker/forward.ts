// A TCP port forward with TCP semantics (pipeBothWays: a FIN stays a FIN, a reset a reset), a cap
// on connections and a deadline on the dial. Docker mode uses it three times: in the container,
// from the published ports to the daemon's doors on the container's loopback, and from the
// kubeconfig's loopback API address to the host's relay; on the host, as that relay (api-relay.ts).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { pipeBothWays } from '../net/pipe.js';
import { logger } from '../log/logger.js';

const log = logger('tp:docker:forward');

/** An API server's watches are long-lived; 256 at once is far above what one daemon opens. */
export const DEFAULT_MAX_CONNECTIONS = 256;
const DIAL_TIMEOUT_MS = 10_000;

export interface ForwardOptions {
  listenHost: string;
  /** 0 for a free port. */
  listenPort: number;
  toHost: string;
  toPort: number;
  maxConnections?: number;
}

/** Listens and forwards; resolves with the server and the port it got. */
export async function startForward(options: ForwardOptions): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => forward(client, options));
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort, options.listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : options.listenPort };
}

function forward(client: Socket, { toHost, toPort }: ForwardOptions): void {
  const upstream = createConnection({ host: toHost, port: toPort, allowHalfOpen: true });
  // A client gone before the dial finished takes the dial with it (later, the pipe handles errors).
  client.on('error', () => upstream.destroy());
  const timer = setTimeout(() => upstream.destroy(new Error(`no answer from ${toHost}:${toPort} within ${DIAL_TIMEOUT_MS} ms`)), DIAL_TIMEOUT_MS);
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    pipeBothWays(client, upstream, () => undefined);
    client.resume();
  });
  upstream.once('error', (error) => {
    clearTimeout(timer);
    if (!connected) {
      log.info('!! cannot reach %s:%d: %s', toHost, toPort, error.message);
      client.resetAndDestroy();
    }
  });
}

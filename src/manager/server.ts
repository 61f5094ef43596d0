// `tp manager serve`: the traffic-manager process. One HTTP server per listener answers
// /healthz, /readyz and /version and upgrades /tunnel to a tunnel session:
// - the tunnel listener (the Service's port, all interfaces) requires the client token;
// - the port-forward listener (the pod's loopback only, reached through the Kubernetes API's
//   port-forward, which RBAC guards) accepts any bearer value.
// On each tunnel session the client says hello (ManagerMethod.hello), may ask DNS questions, and
// opens streams that the manager dials after checking the destination (dial-policy.ts).
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';
import { TpError } from '../errors.js';
import { acceptByDialing, tokenAuthenticator, TunnelServer, type Authenticate, type IncomingOpen, type Session } from '../tunnel/index.js';
import { TP_VERSION } from '../version.js';
import { ManagerEvent, ManagerMethod, type HelloParams, type HelloResult, type ResolveParams } from './api.js';
import { ClientSessions } from './client-sessions.js';
import { ClusterResolver } from './cluster-resolver.js';
import { ClusterWatcher, type ClusterWatcherOptions } from './cluster-info.js';
import { checkDestination, FORBIDDEN_DESTINATIONS } from './dial-policy.js';
import { parseCidr, type Cidr } from '../proxy/cidr.js';

const log = createDebug('tp:manager');

export interface ManagerOptions {
  kc: KubeConfig;
  namespace: string;
  /** The client token that the tunnel listener requires. */
  clientToken: string;
  tunnelHost?: string;
  tunnelPort: number;
  /** Loopback port for connections through the API's port-forward; 0 picks one, null disables. */
  portForwardPort: number | null;
  sessionTtlMs?: number;
  cluster?: ClusterWatcherOptions;
  connectTimeoutMs?: number;
  /** CIDRs never dialled for clients (default FORBIDDEN_DESTINATIONS); tests on loopback pass []. */
  forbiddenDestinations?: string[];
}

export interface RunningManager {
  tunnelPort: number;
  portForwardPort: number | null;
  sessions: ClientSessions;
  close(): Promise<void>;
}

type Identity = { via: 'token' | 'port-forward' };

export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const cluster = new ClusterWatcher(options.kc, options.cluster);
  const sessions = new ClientSessions(options.sessionTtlMs ?? 60_000);
  const resolver = new ClusterResolver();
  const forbidden = (options.forbiddenDestinations ?? FORBIDDEN_DESTINATIONS).map(parseCidr);
  let ready = false;

  const helloed = new Map<Session, string>();
  cluster.on('change', (info) => {
    for (const tunnel of helloed.keys()) tunnel.notify(ManagerEvent.clusterInfo, info);
  });

  const serveTunnel = (tunnel: Session, identity: Identity): void => {
    log('<- tunnel %s via %s', tunnel.label, identity.via);
    tunnel.handle(ManagerMethod.hello, (params): HelloResult => {
      const hello = params as HelloParams;
      if (typeof hello?.client !== 'string' || typeof hello.namespace !== 'string') {
        throw new TpError('TP_ERR_MANAGER_BAD_HELLO', 'hello needs a client and a namespace');
      }
      const previous = helloed.get(tunnel);
      if (previous) sessions.detach(previous);
      const { session, resumed } = sessions.attach(hello);
      helloed.set(tunnel, session.id);
      return { sessionId: session.id, resumed, managerVersion: TP_VERSION, clusterInfo: cluster.info(), sessionTtlMs: sessions.ttlMs };
    });
    tunnel.handle(ManagerMethod.resolve, (params) => {
      const { name, type } = params as ResolveParams;
      return resolver.resolve(String(name), String(type));
    });
    tunnel.on('stream', (open: IncomingOpen) => void dialFor(open, helloed.has(tunnel), forbidden, options.connectTimeoutMs));
    tunnel.once('close', () => {
      const id = helloed.get(tunnel);
      helloed.delete(tunnel);
      if (id) sessions.detach(id);
    });
  };

  const requestHandler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const path = new URL(request.url ?? '/', 'http://manager').pathname;
    if (path === '/healthz') return void response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') return void response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'starting\n');
    if (path === '/version') return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: TP_VERSION }) + '\n');
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };

  const listen = async (host: string, port: number, authenticate: Authenticate<Identity>) => {
    const server = http.createServer(requestHandler);
    const tunnels = await TunnelServer.listen<Identity>({ server, authenticate });
    tunnels.on('session', serveTunnel);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return { server, tunnels, port: (server.address() as AddressInfo).port };
  };

  const byToken = tokenAuthenticator<Identity>(options.clientToken, { via: 'token' });
  const listeners = [await listen(options.tunnelHost ?? '0.0.0.0', options.tunnelPort, byToken)];
  if (options.portForwardPort !== null) listeners.push(await listen('127.0.0.1', options.portForwardPort, () => ({ via: 'port-forward' })));

  await cluster.start();
  ready = true;
  log('ready: tunnel port %d, port-forward port %s', listeners[0].port, listeners[1]?.port ?? 'off');

  let closing: Promise<void> | null = null;
  return {
    tunnelPort: listeners[0].port,
    portForwardPort: listeners[1]?.port ?? null,
    sessions,
    close: () =>
      (closing ??= (async () => {
        ready = false;
        await Promise.all(listeners.map(async ({ server, tunnels }) => {
          await tunnels.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }));
        sessions.close();
        await cluster.close();
      })()),
  };
}

async function dialFor(open: IncomingOpen, helloed: boolean, forbidden: Cidr[], connectTimeoutMs = 10_000): Promise<void> {
  if (!helloed) return open.reject('forbidden', 'say hello before opening streams');
  const verdict = await checkDestination(open.host, forbidden);
  if (!verdict.allowed) {
    log('!! refused %s:%d: %s', open.host, open.port, verdict.message);
    return open.reject(verdict.code, verdict.message);
  }
  await acceptByDialing(open, {
    connectTimeoutMs,
    dial: (_host, port) => net.connect({ host: verdict.address, port, noDelay: true }),
  });
}

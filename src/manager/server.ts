// `tp manager serve`: the traffic-manager process. One HTTP server per listener answers
// /healthz, /readyz and /version and upgrades /tunnel to a tunnel session:
// - the tunnel listener (the Service's port, all interfaces) requires the client token;
// - the port-forward listener (the pod's loopback only, reached through the Kubernetes API's
//   port-forward, which RBAC guards) accepts any bearer value.
// On each tunnel session the client says hello (ManagerMethod.hello), may ask DNS questions, and
// opens streams that the manager dials after checking the destination (dial-policy.ts). The tunnel
// listener also takes traffic-agents (agent tokens, agent-token.ts); intercepts, for clients and
// agents alike, are intercept-service.ts's.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { logger } from '../log/logger.js';
import { TpError } from '../errors.js';
import { acceptByDialing, TunnelServer, type Authenticate, type IncomingOpen, type Session } from '../tunnel/index.js';
import { TP_VERSION } from '../version.js';
import { API_VERSION, INTERCEPT_STREAM_HOST, VOLUMES_STREAM_HOST, ManagerEvent, ManagerMethod, type HelloParams, type HelloResult, type ResolveParams } from '../api/control-api.js';
import { LaptopSessions } from './laptop-sessions.js';
import { ClusterResolver } from './cluster-resolver.js';
import { ClusterWatcher, type ClusterWatcherOptions } from './cluster-info.js';
import { checkDestination, FORBIDDEN_DESTINATIONS } from './dial-policy.js';
import { parseCidr, type Cidr } from '../net/cidr.js';
import { tunnelAuthenticator, type TunnelIdentity } from '../inject/agent-token.js';
import { InterceptService } from './intercept-service.js';
import { MANAGER_NAME } from '../api/names.js';
import { growHeapForRelaying } from '../tunnel/heap-growth.js';

const log = logger('tp:manager');

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
  /** The agents' image (the manager's own); read from the manager's Deployment when not given. */
  image?: string;
  /** How long an intercept create waits for pods and agents. Default 120 s. */
  interceptTimeoutMs?: number;
}

export interface RunningManager {
  tunnelPort: number;
  portForwardPort: number | null;
  sessions: LaptopSessions;
  intercepts: InterceptService;
  close(): Promise<void>;
}

type Identity = TunnelIdentity;

export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  growHeapForRelaying();
  const cluster = new ClusterWatcher(options.kc, options.cluster);
  const sessions = new LaptopSessions(options.sessionTtlMs ?? 60_000);
  const resolver = new ClusterResolver();
  const forbidden = (options.forbiddenDestinations ?? FORBIDDEN_DESTINATIONS).map(parseCidr);
  let ready = false;
  let image: Promise<string> | null = options.image ? Promise.resolve(options.image) : null;
  const intercepts = new InterceptService({
    kc: options.kc,
    managerNamespace: options.namespace,
    clientToken: options.clientToken,
    sessions,
    rolloutTimeoutMs: options.interceptTimeoutMs,
    image: () => (image ??= readOwnImage(options.kc, options.namespace).catch((err: unknown) => {
      image = null;
      throw err;
    })),
  });

  const helloed = new Map<Session, string>();
  cluster.on('change', (info) => {
    for (const tunnel of helloed.keys()) tunnel.notify(ManagerEvent.clusterInfo, info);
  });

  const serveTunnel = (tunnel: Session, identity: Identity): void => {
    log.info('<- tunnel %s via %s as %s', tunnel.label, identity.via, identity.role);
    if (identity.role === 'agent') return intercepts.serveAgent(tunnel, identity.namespace);
    tunnel.handle(ManagerMethod.hello, (params): HelloResult => {
      const hello = params as HelloParams;
      if (typeof hello?.client !== 'string' || typeof hello.namespace !== 'string') {
        throw new TpError('TP_ERR_MANAGER_BAD_HELLO', 'hello needs a client and a namespace');
      }
      const previous = helloed.get(tunnel);
      if (previous) sessions.detach(previous);
      const { session, resumed } = sessions.attach(hello);
      helloed.set(tunnel, session.id);
      intercepts.clientAttached(tunnel, session.id);
      return { sessionId: session.id, resumed, managerVersion: TP_VERSION, apiVersion: API_VERSION, clusterInfo: cluster.info(), sessionTtlMs: sessions.ttlMs };
    });
    tunnel.handle(ManagerMethod.resolve, (params) => {
      const { name, type } = params as ResolveParams;
      return resolver.resolve(String(name), String(type));
    });
    intercepts.serveClient(tunnel, () => {
      const id = helloed.get(tunnel);
      const session = id ? sessions.list().find((s) => s.id === id) : undefined;
      return session && { sessionId: session.id, client: session.client };
    });
    tunnel.on('stream', (open: IncomingOpen) => {
      if (open.host === VOLUMES_STREAM_HOST) return void intercepts.spliceVolumes(open, helloed.get(tunnel));
      void dialFor(open, helloed.has(tunnel), forbidden, options.connectTimeoutMs);
    });
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

  const byToken = tunnelAuthenticator(options.clientToken);
  const listeners = [await listen(options.tunnelHost ?? '0.0.0.0', options.tunnelPort, byToken)];
  if (options.portForwardPort !== null) listeners.push(await listen('127.0.0.1', options.portForwardPort, () => ({ role: 'client', via: 'port-forward' })));

  await cluster.start();
  ready = true;
  log.info('ready: tunnel port %d, port-forward port %s', listeners[0].port, listeners[1]?.port ?? 'off');

  let closing: Promise<void> | null = null;
  return {
    tunnelPort: listeners[0].port,
    portForwardPort: listeners[1]?.port ?? null,
    sessions,
    intercepts,
    close: () =>
      (closing ??= (async () => {
        ready = false;
        await Promise.all(listeners.map(async ({ server, tunnels }) => {
          await tunnels.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }));
        sessions.close();
        intercepts.close();
        await cluster.close();
      })()),
  };
}

async function dialFor(open: IncomingOpen, helloed: boolean, forbidden: Cidr[], connectTimeoutMs = 10_000): Promise<void> {
  if (!helloed) return open.reject('forbidden', 'say hello before opening streams');
  if (open.host === INTERCEPT_STREAM_HOST) return open.reject('forbidden', 'only traffic-agents open intercept streams');
  const verdict = await checkDestination(open.host, forbidden);
  if (!verdict.allowed) {
    log.info('!! refused %s:%d: %s', open.host, open.port, verdict.message);
    return open.reject(verdict.code, verdict.message);
  }
  await acceptByDialing(open, {
    connectTimeoutMs,
    dial: (_host, port) => net.connect({ host: verdict.address, port, noDelay: true, allowHalfOpen: true }),
  });
}

/** The image of the manager's own Deployment: agents run the same one. */
async function readOwnImage(kc: KubeConfig, namespace: string): Promise<string> {
  const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: MANAGER_NAME, namespace });
  const image = deployment.spec?.template.spec?.containers[0]?.image;
  if (!image) throw new TpError('TP_ERR_MANAGER_NO_IMAGE', `The ${MANAGER_NAME} Deployment in namespace ${namespace} names no image; set TP_MANAGER_IMAGE.`);
  return image;
}

// The sandbox's Kubernetes API server: HTTPS on host:port (and the same API on an optional unix
// socket), bearer-token authentication (anonymous without a token), RBAC authorization (which lets
// anyone read health and version, as upstream's defaults do), discovery, health, and the resource
// routes of router.ts; WebSocket upgrades go to port-forward and exec. Everything lives in memory and is
// gone after close(); restart() keeps it. This file wires the parts; each concern has its own module.
// Leaves out: attach, proxy subresources, server-side apply, protobuf.
// Used by the sandbox main process (test/sandbox/sandbox.ts) and the API server's tests.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { unlink } from 'node:fs/promises';
import debugFactory from 'debug';
import { Store } from './store.js';
import { TokenAuthority, type UserInfo } from './auth.js';
import { Authorizer } from './rbac.js';
import { ObjectRegistry, type LifecycleHooks } from './registry/objects.js';
import { ClusterIpAllocator } from './registry/cluster-ips.js';
import { lifecycleHooks } from './registry/lifecycle.js';
import { garbageCollectorHooks } from './gc.js';
import { eventTwinHooks } from './registry/event-twins.js';
import { bootstrap, DEFAULT_API_ENDPOINT, DEFAULT_DNS_ENDPOINT } from './bootstrap.js';
import { WatchRegistry } from './watch.js';
import { parseRequestInfo, type RequestInfo } from './request-info.js';
import { handleResourceRequest, resolveKind } from './router.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { sendError, sendJson, sendText } from './http-util.js';
import { ApiStatusError, methodNotAllowed } from './status-errors.js';
import { ExecServer } from './exec.js';
import { PortForwardServer, rejectUpgrade } from './portforward.js';
import { openApiV3Document, openApiV3Root } from './openapi.js';
import { impersonate } from './impersonation.js';
import type { ApiContext, ApiServerHooks, PodLogOptions } from './context.js';
import type { Attributes } from './rbac.js';

export type { ApiServerHooks, PodLogOptions };

const log = debugFactory('tp:sandbox:apiserver');

export interface ApiServerOptions {
  host?: string;                       // default 127.0.0.1
  port: number;                        // 0 = pick one (tests)
  socketPath?: string;                 // also serve the same HTTPS API on this unix socket
  tls: { cert: string; key: string };  // PEM, signed by the sandbox CA
  caCert: string;                      // PEM; published in service-account token secrets and kube-root-ca.crt
  adminToken: string;
  signingKey: Buffer;                  // HMAC key for service account tokens
  apiEndpoint?: { ip: string; port: number }; // endpoints of the `kubernetes` service (default 198.18.0.1:6443)
  dnsEndpoint?: { ip: string };        // endpoints of kube-dns (default 198.18.0.1)
  hooks?: ApiServerHooks;
  /** Events kept for watch resume; a watch from an older resourceVersion gets 410. Default 2000. */
  watchHistorySize?: number;
  /** Clock for timestamps and token expiry (tests). */
  now?: () => number;
}

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
  /** As a control-plane restart: every connection (watches, port-forwards) drops, the port is
   * closed for `downMs`, then the same API answers on the same address with the same objects. */
  restart(downMs?: number): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);

function attributes(user: UserInfo, info: RequestInfo, namespaced: boolean): Attributes {
  if (!info.resourceRequest) return { user, resourceRequest: false, path: info.path, verb: info.verb };
  return {
    user, resourceRequest: true, path: info.path, verb: info.verb,
    apiGroup: info.apiGroup, resource: info.resource, subresource: info.subresource,
    namespace: namespaced || info.resource === 'namespaces' ? info.namespace : undefined, name: info.name,
  };
}

function serveNonResource(res: ServerResponse, info: RequestInfo, serverAddress: string): void {
  if (info.verb !== 'get' && info.verb !== 'head') throw methodNotAllowed('the server does not allow this method on the requested resource');
  const parts = info.path.split('/').filter((p) => p !== '');
  let body: Record<string, unknown> | undefined;
  if (info.path === '/version' || info.path === '/version/') body = versionInfo();
  else if (parts[0] === 'api' && parts.length === 1) body = apiVersions(serverAddress);
  else if (parts[0] === 'api' && parts.length === 2) body = apiResourceList('', parts[1]);
  else if (parts[0] === 'apis' && parts.length === 1) body = apiGroupList();
  else if (parts[0] === 'apis' && parts.length === 2) body = apiGroup(parts[1]);
  else if (parts[0] === 'apis' && parts.length === 3) body = apiResourceList(parts[1], parts[2]);
  else if (parts[0] === 'openapi' && parts[1] === 'v3' && parts.length === 2) body = openApiV3Root();
  else if (parts[0] === 'openapi' && parts[1] === 'v3') body = openApiV3Document(parts.slice(2).join('/'));
  if (!body) throw new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource');
  sendJson(res, 200, body);
}

function composeHooks(...all: LifecycleHooks[]): LifecycleHooks {
  return {
    beforeCreate: (...args) => all.forEach((h) => h.beforeCreate?.(...args)),
    afterCreate: (...args) => all.forEach((h) => h.afterCreate?.(...args)),
    beforeUpdate: (...args) => all.forEach((h) => h.beforeUpdate?.(...args)),
    beforeDelete: (...args) => all.forEach((h) => h.beforeDelete?.(...args)),
    afterDelete: (...args) => all.forEach((h) => h.afterDelete?.(...args)),
  };
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const now = options.now ?? Date.now;
  const store = new Store({ historySize: options.watchHistorySize });
  const registry = new ObjectRegistry(store, now);
  const tokens = new TokenAuthority(options.adminToken, options.signingKey, store, now);
  const ctx: ApiContext = {
    store, registry, tokens, authorizer: new Authorizer(store), watches: new WatchRegistry(),
    hooks: options.hooks ?? {}, caCert: options.caCert, now,
  };
  registry.hooks = composeHooks(lifecycleHooks({ registry, ips: new ClusterIpAllocator(), tokens, caCert: options.caCert }), garbageCollectorHooks(registry), eventTwinHooks(store));
  bootstrap(registry, options.apiEndpoint ?? DEFAULT_API_ENDPOINT, options.dnsEndpoint ?? DEFAULT_DNS_ENDPOINT);
  let portForward = new PortForwardServer(ctx);
  let exec = new ExecServer(ctx);
  const host = options.host ?? '127.0.0.1';
  let serverAddress = `${host}:${options.port}`;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://sandbox.invalid');
    const user = impersonate(ctx.authorizer, tokens.authenticate(req.headers.authorization), req.headers);
    const info = parseRequestInfo(req.method ?? 'GET', url);
    if (!info.resourceRequest) {
      ctx.authorizer.authorize(attributes(user, info, false));
      if (HEALTH_PATHS.has(url.pathname)) sendText(res, 200, 'ok');
      else serveNonResource(res, info, serverAddress);
      return;
    }
    const namespaced = resolveNamespaced(info);
    ctx.authorizer.authorize(attributes(user, info, namespaced));
    await handleResourceRequest({ ctx, req, res, url, info, user, kind: resolveKind(info) });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    log('<- %s %s', req.method, req.url);
    handle(req, res).catch((error: unknown) => {
      if (!(error instanceof ApiStatusError)) log('!! %s %s: %s', req.method, req.url, (error as Error)?.stack ?? String(error));
      sendError(res, error);
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    try {
      const url = new URL(req.url ?? '/', 'https://sandbox.invalid');
      const user = tokens.authenticate(req.headers.authorization);
      const info = parseRequestInfo('GET', url);
      const sub = info.subresource;
      if (!info.resourceRequest || info.resource !== 'pods' || (sub !== 'portforward' && sub !== 'exec') || info.apiGroup !== '' || !info.name) {
        throw new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource');
      }
      const attrs = attributes(user, { ...info, verb: 'create' }, true);
      // A WebSocket exec needs `create`, as upstream asks (AuthorizePodWebsocketUpgradeCreatePermission).
      if (sub === 'exec') ctx.authorizer.authorize(attrs);
      else if (!ctx.authorizer.allowed(attrs)) ctx.authorizer.authorize({ ...attrs, verb: 'get' });
      const pod = registry.get(resolveKind(info), info.namespace, info.name);
      if (sub === 'exec') exec.upgrade(req, socket, head, pod, url);
      else portForward.upgrade(req, socket, head, pod, url);
    } catch (error) {
      rejectUpgrade(socket, error);
    }
  };

  const makeServer = (): https.Server => {
    const server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest);
    server.on('upgrade', onUpgrade);
    server.on('clientError', (_error, socket) => socket.destroy());
    return server;
  };

  // Listening and stopping, apart from the state above, so restart() can drop every connection
  // (watches, port-forwards) and listen again on the same address with the same store and keys.
  const listen = async (): Promise<https.Server[]> => {
    const tcpServer = makeServer();
    await new Promise<void>((resolve, reject) => {
      tcpServer.once('error', reject);
      tcpServer.listen(port, host, () => {
        tcpServer.off('error', reject);
        resolve();
      });
    });
    if (!options.socketPath) return [tcpServer];
    await unlink(options.socketPath).catch(() => undefined);
    const socketServer = makeServer();
    const path = options.socketPath;
    await new Promise<void>((resolve, reject) => {
      socketServer.once('error', reject);
      socketServer.listen(path, () => {
        socketServer.off('error', reject);
        resolve();
      });
    }).catch(async (error: unknown) => {
      await new Promise((resolve) => tcpServer.close(resolve));
      throw error;
    });
    return [tcpServer, socketServer];
  };
  const stop = async (servers: https.Server[]): Promise<void> => {
    ctx.watches.closeAll();
    portForward.close();
    exec.close();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })));
    if (options.socketPath) await unlink(options.socketPath).catch(() => undefined);
  };

  let port = options.port;
  let servers = await listen();
  port = (servers[0].address() as AddressInfo).port;
  serverAddress = `${host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= stop(servers);
    return closing;
  };
  const restart = async (downMs = 0): Promise<void> => {
    if (closing) throw new Error('the API server is closed');
    await stop(servers);
    portForward = new PortForwardServer(ctx);
    exec = new ExecServer(ctx);
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    servers = await listen();
  };

  const displayHost = host.includes(':') ? `[${host}]` : host;
  return { url: `https://${displayHost}:${port}`, port, close, restart };
}

function resolveNamespaced(info: RequestInfo): boolean {
  try {
    return resolveKind(info).namespaced;
  } catch {
    return info.namespace !== undefined;
  }
}

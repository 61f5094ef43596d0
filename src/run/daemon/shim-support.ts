// Everything the daemon serves for `tp run`'s shims, behind one call: the redirect listener with
// its hand-over socket, the name query socket, the capture socket of `tp run --netns`, and the routes file that tells the shims where
// they are. The daemon starts it after its front doors, calls update() when the routing table
// changes, and close() when it stops. Leaves out the shims themselves (shims/) and the command.
import type { OwnerGate } from '../../proxy/owner-gate.js';
import { randomBytes } from 'node:crypto';
import { logger } from '../../log/logger.js';
import { systemResolvers } from '../../dns/forwarder.js';
import type { Dial } from '../../proxy/dial.js';
import { decideRoute, type RouteDecision, type RouteTarget, type RoutingTable } from '../../proxy/routing.js';
import { NameQueryServer, type ResolveAddresses } from './name-query.js';
import type { DaemonPaths } from '../../daemon/paths.js';
import { RedirectListener } from './redirect-listener.js';
import { CaptureListener } from './capture-listener.js';
import { removeRoutesFile, shimFiles, writeRoutesFile, type ShimFiles } from './routes-file.js';

const log = logger('tp:daemon:shims');
const TOKEN_BYTES = 16;

export interface ShimSupportOptions {
  paths: DaemonPaths;
  table(): RoutingTable;
  /** The daemon's Dial (createTunnelDial): cluster targets up the tunnel, the rest direct. */
  dial: Dial;
  /** Cluster DNS for A/AAAA questions: `(name, type) => link.resolve(name, type)`. */
  resolve: ResolveAddresses;
  /** The DNS stub's UDP/TCP port on 127.0.0.1. */
  dnsPort: number;
  /** The system resolvers the shims send to the stub instead. Default: /etc/resolv.conf's. */
  nameservers?: readonly string[];
  /** Who may use the redirect listener (owner-gate.ts). Default: everyone. */
  gate?: OwnerGate;
}

export interface ShimSupport {
  files: ShimFiles;
  redirectPort: number;
  handoverPort: number;
  /** Rewrites the routes file from the current table (call when the cluster info changes). */
  update(): void;
  close(): Promise<void>;
}

export async function startShimSupport(options: ShimSupportOptions): Promise<ShimSupport> {
  const files = shimFiles(options.paths);
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  const route = (target: RouteTarget): RouteDecision => decideRoute(target, options.table());
  const redirect = new RedirectListener({ token, gate: options.gate, dial: options.dial, route });
  const names = new NameQueryServer({ socketPath: files.nameSocket, table: options.table, resolve: options.resolve });
  const capture = new CaptureListener({ socketPath: files.captureSocket, route, dial: options.dial, dnsPort: options.dnsPort });
  const { redirectPort, handoverPort } = await redirect.listen();
  try {
    await names.listen();
    await capture.listen();
  } catch (err) {
    await Promise.allSettled([redirect.destroy(), names.close(), capture.close()]);
    throw err;
  }
  const nameservers = options.nameservers ?? systemResolvers().map((resolver) => resolver.host);
  const update = (): void => {
    writeRoutesFile(files.routesFile, { token, redirectPort, handoverPort, dnsPort: options.dnsPort, nameSocket: files.nameSocket, table: options.table(), nameservers });
    log('routes file %s updated', files.routesFile);
  };
  update();
  let closing: Promise<void> | null = null;
  return {
    files,
    redirectPort,
    handoverPort,
    update,
    close: () =>
      (closing ??= (async () => {
        removeRoutesFile(files.routesFile);
        await Promise.allSettled([redirect.close(), names.close(), capture.close()]);
      })()),
  };
}

// `tp run`'s shims on the host for a Docker-mode connection, served by the host's companion
// (api-relay.ts). The daemon's redirect listener and hand-over socket are on the container's
// loopback, out of the host's reach, so the companion runs a redirect listener of its own on the
// host's 127.0.0.1 (the native one, src/run/daemon/redirect-listener.ts, behind the companion's
// owner gate) that hands each connection to the daemon through its capture socket (handover.ts),
// and keeps a routes file for the shims beside the daemon's: the daemon's cluster ranges and name
// socket (a Unix socket in the connection's folder, which the host reaches by its path), with this
// redirect listener, a token of its own, the companion's DNS stub and the host's resolvers. The
// daemon rewrites its file as it learns the cluster's ranges; this one follows within a second.
// Leaves out the shims themselves and IPv6 cluster ranges (the capture socket takes IPv4).
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { logger } from '../log/logger.js';
import { systemResolvers } from '../dns/forwarder.js';
import type { OwnerGate } from '../proxy/owner-gate.js';
import { toDialError } from '../proxy/dial.js';
import { RedirectListener } from '../run/daemon/redirect-listener.js';
import { handOver } from './handover.js';

const log = logger('tp:docker:shims');
const TOKEN_BYTES = 16;
const WATCH_INTERVAL_MS = 1_000;
/** The daemon's routes file is a few hundred lines at most (one per cluster range). */
const MAX_ROUTES_BYTES = 1 << 20;

export interface HostShimsOptions {
  /** The daemon's routes file, capture socket and folder as the host sees them. */
  daemonRoutesFile: string;
  captureSocket: string;
  /** Maps a path of the container's to the host's (connection.ts hostPath). */
  hostPath(containerPath: string): string;
  /** The routes file to write for the host's shims. */
  routesFile: string;
  dnsPort: number;
  gate: OwnerGate;
}

export interface HostShims {
  redirectPort: number;
  close(): Promise<void>;
}

export async function startHostShims(options: HostShimsOptions): Promise<HostShims> {
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  const redirect = new RedirectListener({
    token,
    gate: options.gate,
    // The daemon routes again when it dials; the shims only send what their routes file calls the cluster's.
    route: (target) => ({ via: 'cluster', clusterHost: target.host, reason: 'for the Docker-mode daemon' }),
    dial: (target) => handOver(options.captureSocket, target).catch((error: unknown) => Promise.reject(toDialError(error, target))),
  });
  const { redirectPort, handoverPort } = await redirect.listen();
  const nameservers = systemResolvers().map((resolver) => resolver.host);
  const update = (): void => {
    let daemonText: string;
    try {
      daemonText = readFileSync(options.daemonRoutesFile, 'utf8').slice(0, MAX_ROUTES_BYTES);
    } catch {
      // No daemon (yet, or any more): no shim file, so tp run says the shims are not served.
      rmSync(options.routesFile, { force: true });
      return;
    }
    const text = hostRoutes(daemonText, { token, redirectPort, handoverPort, dnsPort: options.dnsPort, nameservers, hostPath: options.hostPath });
    const temporary = `${options.routesFile}.${process.pid}.tmp`;
    writeFileSync(temporary, text, { mode: 0o600 });
    renameSync(temporary, options.routesFile);
    log('routes file %s updated', options.routesFile);
  };
  update();
  watchFile(options.daemonRoutesFile, { interval: WATCH_INTERVAL_MS }, update);
  log.info('tp run\'s redirect listener on 127.0.0.1:%d, routes file %s', redirectPort, options.routesFile);
  return {
    redirectPort,
    close: async () => {
      unwatchFile(options.daemonRoutesFile, update);
      rmSync(options.routesFile, { force: true });
      await redirect.close();
    },
  };
}

/**
 * The host's routes file from the daemon's (format: src/run/daemon/routes-file.ts): its version,
 * cluster ranges and exclusions as they are, its name socket at the host's path, and this side's
 * token, ports and resolvers; other lines are left out.
 */
export function hostRoutes(
  daemonText: string,
  here: { token: string; redirectPort: number; handoverPort: number; dnsPort: number; nameservers: readonly string[]; hostPath(path: string): string },
): string {
  const lines = daemonText.split('\n');
  const kept = lines.filter((line) => /^(tp-routes|cidr|exclude) \S+$/.test(line));
  const query = lines.find((line) => line.startsWith('query '))?.slice('query '.length);
  return [
    ...kept.filter((line) => line.startsWith('tp-routes ')),
    `token ${here.token}`,
    `redirect ${here.redirectPort}`,
    `handover ${here.handoverPort}`,
    `dns ${here.dnsPort}`,
    ...(query ? [`query ${here.hostPath(query)}`] : []),
    ...kept.filter((line) => !line.startsWith('tp-routes ')),
    ...here.nameservers.map((address) => `nameserver ${address}`),
  ].join('\n') + '\n';
}

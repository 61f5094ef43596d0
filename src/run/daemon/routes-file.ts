// The routes file the daemon writes for the shims (LD_PRELOAD library and Node preload): where
// the redirect listener, hand-over socket, DNS stub and name query socket are, the hand-over
// token, and which address ranges belong to the cluster. The shims re-read it when it changes,
// so a connect() never asks the daemon anything. Written whole to a temporary file and renamed
// (readers never see half a file), 0600 (it holds the token). Its format is parsed by
// shims/libtp/routes.c, where version 1 is documented, and shims/node/preload.cjs; unknown lines
// are ignored by readers, so adding a line is compatible, changing one needs a version bump.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { RoutingTable } from '../../proxy/routing.js';
import type { DaemonPaths } from '../../daemon/paths.js';

export const ROUTES_FORMAT_VERSION = 1;

export interface RoutesFileContent {
  token: string;
  redirectPort: number;
  handoverPort: number;
  dnsPort: number;
  nameSocket: string;
  /** Service, pod and --also-proxy ranges come from here; --never-proxy ranges become excludes. */
  table: RoutingTable;
  /** The system resolvers: UDP/53 to them goes to the DNS stub. */
  nameservers: readonly string[];
}

export interface ShimFiles {
  routesFile: string;
  nameSocket: string;
  /** Where `tp run --netns`'s relay hands connections over (capture-listener.ts). */
  captureSocket: string;
}

/** Where one daemon's shim files live: next to its control socket (the user's 0700 runtime dir). */
export function shimFiles(paths: DaemonPaths): ShimFiles {
  const base = paths.controlSocket.replace(/\.sock$/, '');
  return { routesFile: `${base}.routes`, nameSocket: `${base}.names.sock`, captureSocket: `${base}.capture.sock` };
}

export function formatRoutesFile(content: RoutesFileContent): string {
  const { table } = content;
  const lines = [
    `tp-routes ${ROUTES_FORMAT_VERSION}`,
    `token ${content.token}`,
    `redirect ${content.redirectPort}`,
    `handover ${content.handoverPort}`,
    `dns ${content.dnsPort}`,
    `query ${content.nameSocket}`,
    ...[...table.serviceCidrs, ...table.podCidrs, ...table.alsoProxyCidrs].map((cidr) => `cidr ${cidr.text}`),
    ...table.neverProxyCidrs.map((cidr) => `exclude ${cidr.text}`),
    ...content.nameservers.map((address) => `nameserver ${address}`),
  ];
  return lines.join('\n') + '\n';
}

/** Replaces the file atomically; readers see the old or the new content, never a mix. */
export function writeRoutesFile(path: string, content: RoutesFileContent): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, formatRoutesFile(content), { mode: 0o600 });
  renameSync(temporary, path);
}

export function removeRoutesFile(path: string): void {
  rmSync(path, { force: true });
}

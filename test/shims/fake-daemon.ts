// The daemon's shim side (redirect listener, name query socket, routes file, DNS stub) on
// loopback with a made-up "cluster": 198.51.100.0/24 (TEST-NET-2, which this machine never
// reaches) whose addresses are served by local servers, and names answered from a small map.
// Lets the shim tests run real programs under LD_PRELOAD without a cluster.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DnsRecord } from '../../src/dns/dns2-wire.js';
import { DnsStub } from '../../src/dns/stub.js';
import { NameQueryServer } from '../../src/run/daemon/name-query.js';
import { RedirectListener } from '../../src/run/daemon/redirect-listener.js';
import { writeRoutesFile } from '../../src/run/daemon/routes-file.js';
import { connectTcp, DialError, type DialTarget } from '../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';

export const CLUSTER_CIDR = '198.51.100.0/24';
export const TOKEN = '0123456789abcdef0123456789abcdef';

export interface FakeDaemon {
  env: NodeJS.ProcessEnv;
  routesFile: string;
  dir: string;
  /** Every target the redirect listener dialled, "host:port". */
  dialed: string[];
  redirectPort: number;
  dnsPort: number;
  close(): Promise<void>;
}

export interface FakeDaemonOptions {
  /** Cluster address:port → local port that serves it. */
  services: Record<string, number>;
  /** Fully qualified cluster names → addresses. */
  names: Record<string, string>;
  /** Where UDP/53 questions were headed (the system resolver the shim should take over). */
  nameservers?: string[];
  libraryPath: string;
}

export async function startFakeDaemon(options: FakeDaemonOptions): Promise<FakeDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-shim-'));
  const table = createRoutingTable({ serviceCidrs: [CLUSTER_CIDR], namespaces: ['default'] });
  const dialed: string[] = [];
  const dial = async (target: DialTarget) => {
    dialed.push(`${target.host}:${target.port}`);
    const port = options.services[`${target.host}:${target.port}`];
    if (!port) throw new DialError('TP_ERR_DIAL_REFUSED', target, 'nothing listens there');
    return connectTcp({ host: '127.0.0.1', port });
  };
  const resolve = async (fqdn: string, type: string): Promise<{ rcode: number; answers: DnsRecord[] }> => {
    const address = options.names[fqdn];
    if (!address) return { rcode: 3, answers: [] };
    return { rcode: 0, answers: type === 'A' ? [{ type: 'A', name: fqdn, ttl: 5, address }] : [] };
  };
  const redirect = new RedirectListener({ token: TOKEN, dial, route: (target) => decideRoute(target, table) });
  const { redirectPort, handoverPort } = await redirect.listen();
  const nameSocket = join(dir, 'names.sock');
  const names = new NameQueryServer({ socketPath: nameSocket, table: () => table, resolve });
  await names.listen();
  const dns = new DnsStub({
    routingTable: () => table,
    resolveCluster: resolve,
  });
  const dnsPort = (await dns.listen()).udp.port;
  const routesFile = join(dir, 'routes');
  writeRoutesFile(routesFile, { token: TOKEN, redirectPort, handoverPort, dnsPort, nameSocket, table, nameservers: options.nameservers ?? [] });
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: options.libraryPath, TP_ROUTES: routesFile };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy']) delete env[name];
  return {
    env,
    routesFile,
    dir,
    dialed,
    redirectPort,
    dnsPort,
    close: async () => {
      await Promise.allSettled([redirect.destroy(), names.destroy(), dns.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

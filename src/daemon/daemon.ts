// The user's daemon (`tp daemon run`, started detached by `tp connect`): connects to the
// traffic-manager, then serves the local front doors on 127.0.0.1 — SOCKS5, the HTTP proxy
// (with the PAC file at /proxy.pac) and the DNS stub — with one routing table kept current from
// the manager's cluster info. The CLI drives it over the control socket: `ping`, `status`, `quit`.
// A start-up failure is kept as the status's error for the CLI to show, then the daemon exits.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentLogLevel, logger, type LogLevel } from '../log/logger.js';
import { TpError } from '../errors.js';
import { contextNamespace, loadKubeConfig } from '../k8s/kubeconfig.js';
import type { ClusterInfo } from '../api/cluster-info.js';
import { DnsStub } from '../dns/stub.js';
import type { Dial } from '../proxy/dial.js';
import { HttpProxyServer } from '../proxy/http-proxy.js';
import { generatePac, PAC_PATH } from '../proxy/pac.js';
import { createRoutingTable, decideRoute, type RoutingTable } from '../proxy/routing.js';
import { SocksServer } from '../proxy/socks-server.js';
import { TP_VERSION } from '../version.js';
import { ControlServer } from './control-server.js';
import type { DaemonContext, DaemonFeature, DaemonListeners, StartFeature } from './feature.js';
import type { DaemonConfig } from './config.js';
import { readState, writeState } from './launcher.js';
import { ManagerLink, type ManagerLinkStatus } from './manager-link.js';
import type { DaemonPaths } from './paths.js';
import { createTunnelDial, withoutOwnProxies } from './tunnel-dial.js';
import { ALLOW_OTHER_USERS_ENV, createOwnerGate, DOOR_CHECK_ENV, type OwnerGate } from '../proxy/owner-gate.js';

const log = logger('tp:daemon');

/** How long a daemon that failed to start waits for the CLI to collect its error. */
const FAILED_LINGER_MS = 30_000;

export interface DaemonStatus {
  phase: 'starting' | 'connected' | 'failed';
  error?: { code: string; message: string; hints: string[] };
  version: string;
  pid: number;
  startedAt: string;
  context: string;
  server: string;
  namespace: string;
  managerNamespace: string;
  manager?: ManagerLinkStatus;
  listeners?: DaemonListeners;
  routing?: ClusterInfo & { alsoProxy: string[]; neverProxy: string[] };
  /** Each feature's own status section, by name. */
  features?: Record<string, unknown>;
  logFile: string;
  logLevel?: LogLevel;
}

interface FrontDoors {
  socks: SocksServer;
  http: HttpProxyServer;
  dns: DnsStub;
  ports: { socks: number; http: number; dns: number };
  dial: Dial;
  env: NodeJS.ProcessEnv;
  gate: OwnerGate;
}

/** `features` start in order once the daemon is connected (feature.ts); the command that starts the daemon chooses them. */
export async function runDaemon(config: DaemonConfig, paths: DaemonPaths, features: readonly StartFeature[]): Promise<void> {
  const startedAt = new Date().toISOString();
  const control = new ControlServer(paths.controlSocket);
  let status: DaemonStatus = {
    phase: 'starting',
    version: TP_VERSION,
    pid: process.pid,
    startedAt,
    context: config.context ?? '',
    server: '',
    namespace: config.namespace ?? '',
    managerNamespace: config.managerNamespace,
    logFile: paths.logFile,
    logLevel: currentLogLevel(),
  };
  let link: ManagerLink | null = null;
  let doors: FrontDoors | null = null;
  const started: DaemonFeature[] = [];
  let stopping: Promise<void> | null = null;

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('stopping');
      await Promise.allSettled(started.map((f) => f.close()));
      await Promise.allSettled([doors?.socks.close(), doors?.http.close(), doors?.dns.close(), link?.close()]);
      await control.close();
      if (readState(paths)?.pid === process.pid) rmSync(paths.stateFile, { force: true });
      setImmediate(() => process.exit(0));
    })());

  control
    .handle('ping', () => 'pong')
    .handle('status', () => ({
      ...status,
      manager: link?.status(),
      features: Object.fromEntries(started.filter((f) => f.status).map((f) => [f.name, f.status!()])),
    }))
    .handle('quit', () => {
      setImmediate(() => void stop());
      return { stopping: true };
    });
  await control.listen();
  writeState(paths, { pid: process.pid, startedAt, controlSocket: paths.controlSocket, logFile: paths.logFile });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => void stop());

  try {
    const kc = loadKubeConfig(config);
    const namespace = config.namespace ?? contextNamespace(kc);
    status = { ...status, context: kc.getCurrentContext(), server: kc.getCurrentCluster()?.server ?? '', namespace };

    let table: RoutingTable = createRoutingTable({ namespace, alsoProxy: config.alsoProxy, neverProxy: config.neverProxy });
    let info: ClusterInfo | undefined;
    link = new ManagerLink({ kc, managerNamespace: config.managerNamespace, managerUrl: config.managerUrl, namespace });
    link.on('clusterInfo', (next) => {
      info = next;
      table = createRoutingTable({ ...next, namespace, alsoProxy: config.alsoProxy, neverProxy: config.neverProxy });
      status = { ...status, routing: { ...next, alsoProxy: config.alsoProxy, neverProxy: config.neverProxy } };
      log.info('routing: %d namespaces, services %s, pods %s', next.namespaces.length, next.serviceCidrs.join(' '), next.podCidrs.join(' '));
    });
    link.on('state', (state) => log.info('manager link %s', state));
    await link.start();

    doors = await openFrontDoors(config, paths, () => table, link);
    const listeners = describeListeners(doors);
    const context: DaemonContext = { config, paths, kc, namespace, link, control, table: () => table, dial: doors.dial, listeners, env: doors.env, gate: doors.gate };
    for (const start of features) started.push(await start(context));
    status = { ...status, phase: 'connected', listeners, routing: info && { ...info, alsoProxy: config.alsoProxy, neverProxy: config.neverProxy } };
    log.info('connected: socks %s, http %s, dns %s', listeners.socks, listeners.http, listeners.dns);
  } catch (err) {
    const error = err instanceof TpError ? err : new TpError('TP_ERR_DAEMON_START', (err as Error).message, { cause: err });
    log.error('!! start failed: %s %s', error.code, error.message);
    status = { ...status, phase: 'failed', error: { code: error.code, message: error.message, hints: error.hints } };
    setTimeout(() => void stop(), FAILED_LINGER_MS).unref();
  }
}

async function openFrontDoors(config: DaemonConfig, paths: DaemonPaths, table: () => RoutingTable, link: ManagerLink): Promise<FrontDoors> {
  const portsFile = join(paths.stateDir, 'ports.json');
  const previous = readPorts(portsFile);
  const route = (target: { host: string; port?: number }) => decideRoute(target, table());
  // Proxy settings that point at a tp daemon (this one, or an earlier one on the same ports) are
  // not the user's upstream proxy: going through them would loop.
  const env = withoutOwnProxies(process.env, [previous.socks, previous.http, config.socksPort, config.httpPort].filter((p): p is number => !!p));
  const dial = createTunnelDial({ open: (host, port) => link.open(host, port), env });

  const listenOn = async <T>(what: string, wanted: number | undefined, remembered: number | undefined, make: (port: number) => T, listen: (door: T) => Promise<unknown>): Promise<T> => {
    // A port given with a flag must be had; a remembered one is only preferred, so that an
    // exported HTTPS_PROXY keeps working across reconnects.
    for (const port of wanted ? [wanted] : [remembered ?? 0, 0]) {
      const door = make(port);
      try {
        await listen(door);
        return door;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || (!wanted && port === 0)) throw err;
        if (wanted) {
          throw new TpError('TP_ERR_PORT_IN_USE', `Port ${wanted} for the ${what} is already in use on 127.0.0.1.`, {
            hints: [`Pick another with --${what === 'SOCKS5 proxy' ? 'socks' : what === 'HTTP proxy' ? 'http' : 'dns'}-port, or leave the flag out to get a free one.`],
          });
        }
      }
    }
    throw new Error('unreachable');
  };

  const gate = await createOwnerGate({
    allowOtherUsers: process.env[ALLOW_OTHER_USERS_ENV] === '1',
    mode: process.env[DOOR_CHECK_ENV],
    secretFile: join(paths.stateDir, 'door-secret'),
  });
  let socksPort = 0;
  let httpPort = 0;
  const socks = await listenOn('SOCKS5 proxy', config.socksPort, previous.socks, (port) => new SocksServer({ route, dial, port, gate }), async (door) => {
    socksPort = (await door.listen()).port;
  });
  const http = await listenOn('HTTP proxy', config.httpPort, previous.http, (port) => new HttpProxyServer({ route, dial, port, gate, pacFile: () => generatePac(table(), { httpPort, socksPort }) }), async (door) => {
    httpPort = (await door.listen()).port;
  });
  let dnsPort = 0;
  const dns = await listenOn('DNS stub', config.dnsPort, previous.dns, (port) => new DnsStub({ port, gate, routingTable: table, resolveCluster: (name, type) => link.resolve(name, type) }), async (door) => {
    dnsPort = (await door.listen()).udp.port;
  });
  const ports = { socks: socksPort, http: httpPort, dns: dnsPort };
  writeFileSync(portsFile, JSON.stringify(ports) + '\n', { mode: 0o600 });
  return { socks, http, dns, ports, dial, env, gate };
}

function describeListeners({ ports, gate }: FrontDoors): DaemonListeners {
  const { credentials } = gate;
  return {
    socks: `127.0.0.1:${ports.socks}`,
    http: `127.0.0.1:${ports.http}`,
    pac: `http://127.0.0.1:${ports.http}${PAC_PATH}${credentials ? `?key=${credentials.password}` : ''}`,
    dns: `127.0.0.1:${ports.dns}`,
    ...(credentials && { credentials }),
  };
}

function readPorts(file: string): { socks?: number; http?: number; dns?: number } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { socks?: number; http?: number; dns?: number };
  } catch {
    return {};
  }
}

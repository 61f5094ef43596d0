// `npx tsx bench/outbound.ts` (as root): how fast a laptop reaches a cluster service through tp,
// side by side in one run with OpenSSH's `ssh -D` over the same Kubernetes API port-forward hop,
// and with a client inside the cluster. It brings the sandbox up if needed, deploys the fixtures
// (outbound-fixtures.ts), installs the manager and connects tp as the unprivileged laptop user
// with a private home, then measures for each route:
//   - one download of BENCH_BYTES (1 GiB) with curl,
//   - keep-alive requests/s and new connections/s (one request each) with wrk.
// While each runs it records who spent the CPU (outbound-cpu.ts). Prints a table, writes
// bench/results/outbound-<date>.json, and stops all it started (ssh, forwarder, tp, fixtures; the
// sandbox only if it was down before). Not a test: nothing asserts speed. tp runs from dist/:
// `npm run build` first when src/ changed.
// Env: BENCH_BYTES (2^30), BENCH_DURATION_S (5), BENCH_CONNECTIONS (16), BENCH_RATE_ROUNDS (3: wrk
// runs per route and workload, interleaved across routes, the median kept, after BENCH_WARMUP_S (1)
// of unmeasured keep-alive requests per route), BENCH_ROUTES (all, comma
// list of tpHttp,tpSocks,sshSocks,direct), BENCH_PROFILE=1 (afterwards, extra tp runs with the
// daemon and manager profiled: outbound-profiling.ts), BENCH_DAEMON_DEBUG (the daemon's DEBUG;
// unset, the daemon logs tp:* to its file).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { DEFAULT_MANAGER_NAMESPACE, MANAGER_SELECTOR } from '../src/api/names.js';
import { TP_VERSION } from '../src/version.js';
import { newLaptop, type Laptop, type Listeners } from '../test/e2e/helpers/laptop.js';
import { TEST_USER } from '../test/helpers/unprivileged.js';
import { kubeConfig } from '../test/sandbox/e2e/sandbox-client.js';
import { requireRoot, sandboxDown, sandboxUp } from '../test/sandbox/lifecycle.js';
import { podNetnsName } from '../test/sandbox/node/names.js';
import { NETWORK_PREFIX, readPid, sandboxPaths } from '../test/sandbox/state.js';
import { cpuBetween, netnsInode, snapshotCpu, type Classifier } from './outbound-cpu.js';
import { BENCH_NAMESPACE, BULK_SERVICE_PORT, CLIENT_POD, deployFixtures, inClientPod, removeFixtures, SSHD_POD, SSHD_PORT } from './outbound-fixtures.js';
import { download, requestRate, type MeasureContext, type RateResult, type Route } from './outbound-measure.js';
import { formatCpu, formatTable, ROUTE_LABELS, type Measurement, type OutboundReport, type RouteName } from './outbound-report.js';
import { findProcessInNetns, formatProfiles, profiled, type ProfileTarget } from './outbound-profiling.js';
import { SshSocksProxy } from './outbound-ssh.js';

const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));
const TP_DIST = fileURLToPath(new URL('../dist/commands/connect.js', import.meta.url));
/** A download slower than this (bytes/s) is cut off rather than let the run take forever. */
const SLOWEST_DOWNLOAD = 10e6;

class BenchConfigError extends Error {
  readonly code = 'TP_BENCH_CONFIG';
}

/** The run's settings from the environment (see the header); bad values are refused in main(). */
function readConfig() {
  const routes = (process.env.BENCH_ROUTES ?? Object.keys(ROUTE_LABELS).join(',')).split(',') as RouteName[];
  for (const route of routes) if (!(route in ROUTE_LABELS)) throw new BenchConfigError(`BENCH_ROUTES: unknown route ${route} (known: ${Object.keys(ROUTE_LABELS).join(', ')})`);
  return {
    downloadBytes: positiveInt('BENCH_BYTES', 2 ** 30),
    durationS: positiveInt('BENCH_DURATION_S', 5),
    connections: positiveInt('BENCH_CONNECTIONS', 16),
    rateRounds: positiveInt('BENCH_RATE_ROUNDS', 3),
    warmupS: positiveInt('BENCH_WARMUP_S', 1),
    profile: process.env.BENCH_PROFILE === '1',
    daemonDebug: process.env.BENCH_DAEMON_DEBUG,
    routes,
  };
}

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new BenchConfigError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

/** Everything started so far, stopped in reverse order; each step runs once. */
class Cleanup {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];
  private running: Promise<void> | undefined;

  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        await step.run().catch((error: unknown) => console.error(`cleanup: ${step.what}: ${(error as Error).message ?? String(error)}`));
      }
    })();
    return this.running;
  }
}

async function main(): Promise<void> {
  readConfig();
  requireRoot('run the outbound benchmark');
  const missing = ['curl', 'wrk', 'proxychains4', 'ssh', 'ssh-keygen', 'socat'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) throw new BenchConfigError(`missing programs: ${missing.join(', ')} (apt-get install wrk proxychains4 openssh-client openssh-server socat curl)`);
  if (!existsSync(TP_DIST)) throw new BenchConfigError(`tp is not built (${TP_DIST} is missing): run npm run build first`);
  const cleanup = new Cleanup();
  const onSignal = (): void => {
    console.error('\ninterrupted: stopping what the benchmark started');
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await run(cleanup);
  } finally {
    await cleanup.runAll();
  }
}

async function run(cleanup: Cleanup): Promise<void> {
  const config = readConfig();
  const report: OutboundReport = {
    startedAt: new Date().toISOString(),
    config: { downloadBytes: config.downloadBytes, durationS: config.durationS, connections: config.connections, target: '' },
    environment: environment(),
    routes: {},
    notes: [],
  };
  step('sandbox');
  const up = await sandboxUp();
  if (!up.alreadyRunning) cleanup.add('sandbox down', () => sandboxDown());

  step('fixtures');
  const laptopUser = { uid: Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' })) };
  const keyDir = mkdtempSync(join(tmpdir(), 'tp-bench-ssh-'));
  cleanup.add('ssh keys', async () => rmSync(keyDir, { recursive: true, force: true }));
  cleanup.add('fixtures', () => removeFixtures());
  const fixtures = await deployFixtures(keyDir, laptopUser);
  const baseUrl = `http://${fixtures.bulkClusterIP}:${BULK_SERVICE_PORT}`;
  report.config.target = `${baseUrl} (Service ${BENCH_NAMESPACE}/bulk by ClusterIP, so no DNS is measured)`;

  step(`tp manager install and tp connect as ${TEST_USER}`);
  const laptop = newLaptop('bench-outbound');
  cleanup.add('tp quit', () => laptop.cleanup());
  await laptop.tp(['manager', 'install'], { timeoutMs: 120_000 });
  const listeners = await connectTp(laptop, config.daemonDebug === undefined ? {} : { DEBUG: config.daemonDebug });
  report.config.daemonDebug = config.daemonDebug ?? '(unset: tp:* to the log file)';
  const daemonPid = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid?: number };

  let ssh: SshSocksProxy | undefined;
  if (config.routes.includes('sshSocks')) {
    step('ssh -D through the API port-forward');
    ssh = await SshSocksProxy.start({ namespace: BENCH_NAMESPACE, pod: SSHD_POD, podPort: SSHD_PORT, key: fixtures.sshKey, env: laptop.env });
    const started = ssh;
    cleanup.add('ssh -D', () => started.close());
  }

  const routes: Record<RouteName, Route | undefined> = {
    tpHttp: { kind: 'http-proxy', proxy: listeners.http },
    tpSocks: { kind: 'socks5', proxy: listeners.socks },
    sshSocks: ssh ? { kind: 'socks5', proxy: `127.0.0.1:${ssh.socksPort}` } : undefined,
    direct: { kind: 'in-cluster', podArgv: inClientPod },
  };
  const context: MeasureContext = { env: laptop.env, workDir: laptop.home };
  const classify = await buildClassifier(daemonPid.pid, ssh);
  const measure = async <T>(name: RouteName, what: string, work: () => Promise<T>): Promise<Measurement<T>> => {
    process.stdout.write(`  ${ROUTE_LABELS[name]}: ${what} … `);
    const before = snapshotCpu(classify);
    const started = performance.now();
    const m: Measurement<T> = { wallSeconds: 0 };
    try {
      m.result = await work();
    } catch (error) {
      m.error = (error as Error).message;
    }
    m.wallSeconds = (performance.now() - started) / 1000;
    m.cpu = cpuBetween(before, snapshotCpu(classify));
    console.log(m.error ? `failed: ${m.error}` : 'done');
    return m;
  };

  const active = config.routes.filter((name) => routes[name]);
  step(`check: GET /small through every route`);
  for (const name of active) await download(routes[name]!, `${baseUrl}/small`, 2, context, 15);

  step(`download ${config.downloadBytes} bytes`);
  const timeoutS = Math.ceil(config.downloadBytes / SLOWEST_DOWNLOAD) + 10;
  for (const name of active) {
    (report.routes[name] ??= {}).download = await measure(name, 'download', () => download(routes[name]!, `${baseUrl}/bytes/${config.downloadBytes}`, config.downloadBytes, context, timeoutS));
  }
  step(`wrk: ${config.connections} connections, ${config.durationS} s each, ${config.rateRounds} interleaved rounds (the median round is kept)`);
  const rounds: Partial<Record<RouteName, { keepAlive: Measurement<RateResult>[]; newConnections: Measurement<RateResult>[] }>> = {};
  // Unmeasured: the JIT's first compiles of each path would otherwise be charged to the route measured first.
  for (const name of active) await requestRate(routes[name]!, `${baseUrl}/small`, { keepAlive: true, durationS: config.warmupS, connections: config.connections }, context);
  for (let round = 0; round < config.rateRounds; round++) {
    for (const name of active) {
      const kept = (rounds[name] ??= { keepAlive: [], newConnections: [] });
      kept.keepAlive.push(await measure(name, 'keep-alive requests', () => requestRate(routes[name]!, `${baseUrl}/small`, { keepAlive: true, durationS: config.durationS, connections: config.connections }, context)));
      kept.newConnections.push(await measure(name, 'new connections', () => requestRate(routes[name]!, `${baseUrl}/small`, { keepAlive: false, durationS: config.durationS, connections: config.connections }, context)));
    }
  }
  for (const name of active) {
    const results = (report.routes[name] ??= {});
    results.keepAlive = medianRound(rounds[name]!.keepAlive);
    results.newConnections = medianRound(rounds[name]!.newConnections);
  }

  if (ssh) await ssh.close();
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (config.profile) {
    step('profiled tp runs (not in the table)');
    const targets = profileTargets(daemonPid.pid, classify);
    const prefix = `outbound-${stamp}`;
    const small = Math.min(config.downloadBytes, 2 ** 28);
    report.profiles = [
      await profiled(`tp SOCKS5 download ${small} bytes`, targets, RESULTS_DIR, `${prefix}-download`, () => download(routes.tpSocks!, `${baseUrl}/bytes/${small}`, small, context, timeoutS)),
      await profiled('tp HTTP proxy keep-alive requests', targets, RESULTS_DIR, `${prefix}-http-keepalive`, () => requestRate(routes.tpHttp!, `${baseUrl}/small`, { keepAlive: true, durationS: config.durationS, connections: config.connections }, context)),
      await profiled('tp SOCKS5 new connections', targets, RESULTS_DIR, `${prefix}-socks-new`, () => requestRate(routes.tpSocks!, `${baseUrl}/small`, { keepAlive: false, durationS: config.durationS, connections: config.connections }, context)),
    ];
  }
  await laptop.tp(['quit']).catch(() => undefined);
  report.finishedAt = new Date().toISOString();
  report.notes.push(`load average at the end: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);

  console.log(`\n${formatTable(report)}\n\nCPU by role while each ran (top 5; 100% = one core):\n${formatCpu(report)}`);
  if (report.profiles) console.log(`\nProfiles (self time):\n${formatProfiles(report.profiles)}`);
  const file = join(RESULTS_DIR, `outbound-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nresults: ${file}`);
}

/** The round with the median requests/s (failed rounds count as slowest): one run on a shared machine swings too far to stand alone. */
function medianRound(measurements: Measurement<RateResult>[]): Measurement<RateResult> {
  const sorted = [...measurements].sort((a, b) => (a.result?.requestsPerSecond ?? -1) - (b.result?.requestsPerSecond ?? -1));
  return sorted[sorted.length >> 1];
}

/** `tp connect --output json` as the laptop user → its listeners; env reaches the daemon too. */
async function connectTp(laptop: Laptop, env: NodeJS.ProcessEnv): Promise<Listeners> {
  try {
    const { stdout } = await laptop.tp(['connect', '--output', 'json'], { timeoutMs: 90_000, env });
    return (JSON.parse(stdout) as { status: { listeners: Listeners } }).status.listeners;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message?: string };
    throw new Error(`tp connect failed: ${(e.stderr || e.stdout || e.message || String(error)).trim()}`, { cause: error });
  }
}

/** Roles for outbound-cpu.ts: known pids first, then pods by network namespace. */
async function buildClassifier(daemonPid: number | undefined, ssh: SshSocksProxy | undefined): Promise<Classifier & { managerNetns?: string }> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const selector = Object.entries(MANAGER_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
  const podNetnsNameOf = async (namespace: string, labelSelector?: string, name?: string): Promise<string | undefined> => {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector, fieldSelector: name ? `metadata.name=${name}` : undefined })).items;
    const uid = pods.find((pod) => pod.status?.phase === 'Running')?.metadata?.uid;
    return uid ? podNetnsName(NETWORK_PREFIX, uid) : undefined;
  };
  const podNetns = async (namespace: string, labelSelector?: string, name?: string): Promise<number | undefined> => {
    const netns = await podNetnsNameOf(namespace, labelSelector, name);
    return netns ? netnsInode(netns) : undefined;
  };
  const managerNetns = await podNetnsNameOf(DEFAULT_MANAGER_NAMESPACE, selector);
  const managerNs = managerNetns ? netnsInode(managerNetns) : undefined;
  const sshdNs = await podNetns(BENCH_NAMESPACE, undefined, SSHD_POD);
  const bulkNs = await podNetns(BENCH_NAMESPACE, undefined, 'bulk');
  const clientNs = await podNetns(BENCH_NAMESPACE, undefined, CLIENT_POD);
  const sandboxPid = readPid(sandboxPaths());
  const classify: Classifier = (p) => {
    if (p.pid === process.pid) return 'load generator (curl/wrk) + bench';
    if (p.pid === daemonPid) return 'tp daemon';
    // The daemon's owner-check helper (sock-diag.ts) is never reaped during a run, so its CPU would
    // otherwise land in "other": it is part of every connection's cost.
    if (p.comm === 'tp-peer-uid' && p.ppid === daemonPid) return 'tp peer-uid helper';
    if (p.pid === sandboxPid) return 'sandbox API server (shared)';
    // Only the socat processes the API server runs into our pods: other people's port-forwards are noise.
    if (p.comm === 'socat' && p.netnsInode !== undefined && (p.netnsInode === managerNs || p.netnsInode === sshdNs)) return 'port-forward socat';
    if (p.cmdline.includes('outbound-forwarder.ts')) return 'ssh path port-forward listener';
    if (p.comm === 'ssh' && ssh && p.ppid === ssh.pids.ssh) return 'ssh -D';
    if (p.cmdline.includes('node-agent.ts')) return 'sandbox node agent';
    if (p.comm === 'wrk' || p.comm === 'curl' || p.comm === 'proxychains4') return 'load generator (curl/wrk)';
    if (p.netnsInode === undefined) return undefined;
    if (p.netnsInode === managerNs) return 'tp manager';
    if (p.netnsInode === sshdNs) return 'sshd';
    if (p.netnsInode === bulkNs) return 'HTTP server pod';
    if (p.netnsInode === clientNs) return 'load generator (curl/wrk)';
    return undefined;
  };
  return Object.assign(classify, { managerNetns });
}

/** The daemon and the manager, for outbound-profiling.ts. */
function profileTargets(daemonPid: number | undefined, classify: Classifier & { managerNetns?: string }): ProfileTarget[] {
  const targets: ProfileTarget[] = [];
  if (daemonPid) targets.push({ name: 'tp daemon', pid: daemonPid });
  const managerPid = classify.managerNetns ? findProcessInNetns(classify.managerNetns, 'manager serve') : undefined;
  if (managerPid) targets.push({ name: 'tp manager', pid: managerPid, netns: classify.managerNetns });
  return targets;
}

function environment(): Record<string, string | number> {
  // ssh -V prints to stderr: take whichever stream has the first line.
  const version = (cmd: string, args: string[]): string => {
    const result = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
  };
  return {
    node: process.version,
    tp: TP_VERSION,
    commit: version('git', ['rev-parse', '--short', 'HEAD']),
    ssh: version('ssh', ['-V']),
    cores: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    loadAverageAtStart: loadavg()[0]!,
  };
}

function step(what: string): void {
  console.log(`\n== ${what}`);
}

main().catch((error: unknown) => {
  console.error(`outbound benchmark failed: ${(error as Error).message ?? String(error)}`);
  process.exitCode = 1;
});

// Benchmark of intercepts against the sandbox (run as root with the sandbox up; tp itself runs
// as the unprivileged test user): requests per second and latency (p50, p99) from a pod inside
// the cluster to the Service `web`, first served by its pods, then globally intercepted to a
// server on the laptop; and bulk throughput of a raw TCP echo, from the pods, intercepted, and
// through plain socat relays standing where tp's processes stand (intercept-ceiling.ts: what
// the hops alone allow on this machine). The keep-alive requests also run through such relays
// (one chain per client connection, to the same laptop server), with the CPU each role spends
// per request.
// Prints a table and writes JSON to bench/results/. Usage: tsx bench/intercept.ts [requests] [concurrency] [MiB]
// BENCH_BULK_ROUNDS (default 3): measured bulk echoes per path, each path's first echo unmeasured
// (it warms up the JIT and the tunnel's windows); intercepted and relay-chain rounds alternate.
// BENCH_REQUEST_ROUNDS (default 3): the same for the keep-alive requests (medians reported).
// BENCH_PROFILE=1: afterwards, the intercepted bulk and keep-alive runs again with the tp daemon,
// the manager and the agents profiled (outbound-profiling.ts); not in the table.
// BENCH_PERF_DIR=<dir>: afterwards, one more intercepted bulk echo with `perf record -g` on the tp
// daemon, the manager and the raw workload's agent (native, kernel and GC time, which the
// inspector's profiles do not see); `perf report -i <dir>/<role>.data`. Not in the table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { execInPod, kubeConfig } from '../test/sandbox/e2e/sandbox-client.js';
import { podNetnsName } from '../test/sandbox/node/names.js';
import { NETWORK_PREFIX, readPid, sandboxPaths } from '../test/sandbox/state.js';
import { findProcessInNetns, formatProfiles, profiled, type ProfiledRun, type ProfileTarget } from './outbound-profiling.js';
import { cpuBetween, netnsInode, snapshotCpu, type Classifier, type CpuByRole } from './outbound-cpu.js';
import { setUpNamespace, tearDownNamespace } from '../test/e2e/intercept/helpers.js';
import { startRelayChains } from './intercept-ceiling.js';
import { perfRecord } from './perf-record.js';

const REQUESTS = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const BULK_MIB = Number(process.argv[4] ?? 64);
/** Measured bulk echoes per path (medians are reported), after one unmeasured echo that warms up tp's JIT and windows. */
const BULK_ROUNDS = Number(process.env.BENCH_BULK_ROUNDS ?? 3);
/** Measured keep-alive request runs per path (medians are reported), after one unmeasured run. */
const REQUEST_ROUNDS = Number(process.env.BENCH_REQUEST_ROUNDS ?? 3);
const NAMESPACE = 'tp-ic-bench';
/** This process's role: the laptop's servers, and (in its reaped children's time) the client pod's load, which it runs through nsenter. */
const BENCH_ROLE = 'laptop server + client pod load';

/**
 * Runs in the client pod: keep-alive HTTP load, prints {rps, p50, p99}. CONCURRENCY workers send
 * requests one after another; with several URLs (one relay chain each), worker i uses URL i mod n
 * through that URL's own keep-alive agent, so the connections are spread alike.
 */
const loadScript = (urls: string[]) => `
const http = require('http'); const urls = ${JSON.stringify(urls)};
const agents = urls.map(() => new http.Agent({ keepAlive: true, maxSockets: ${Math.ceil(CONCURRENCY / urls.length)} }));
const lat = []; let sent = 0; const t0 = process.hrtime.bigint();
function one(w) {
  if (sent >= ${REQUESTS}) return Promise.resolve();
  sent++;
  const s = process.hrtime.bigint();
  return new Promise((res, rej) => http.get(urls[w % urls.length], { agent: agents[w % urls.length] }, (r) => { r.resume(); r.on('end', () => { lat.push(Number(process.hrtime.bigint() - s) / 1e6); res(); }); }).on('error', rej)).then(() => one(w));
}
Promise.all(Array.from({ length: ${CONCURRENCY} }, (_, w) => one(w))).then(() => {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9; lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({ rps: lat.length / secs, p50: q(0.5), p99: q(0.99) })); agents.forEach((a) => a.destroy());
});`;

/** Runs in the client pod: sends BULK_MIB MiB to an echo, reads it back, prints {mibPerS}. */
const bulkScript = (host: string, port = 9000) => `
const net = require('net'); const total = ${BULK_MIB} * 1048576; const chunk = Buffer.alloc(65536, 7);
let got = 0; const t0 = process.hrtime.bigint();
const s = net.connect(${port}, '${host}', () => { let sent = 0; const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } }; pump(); });
s.on('data', (d) => { got += d.length; if (got >= total) { const secs = Number(process.hrtime.bigint() - t0) / 1e9; console.log(JSON.stringify({ mibPerS: ${BULK_MIB} / secs })); s.destroy(); } });`;

/** Runs a script in the client pod; its figures come back with the 1-minute load average before and after. */
async function inPod(script: string): Promise<Record<string, number>> {
  const loadBefore = loadavg()[0];
  const result = await execInPod('client', ['node', '-e', script], NAMESPACE, 300_000);
  if (result.code !== 0) throw new Error(`load failed: ${result.stderr}`);
  return { ...(JSON.parse(result.stdout.trim()) as Record<string, number>), loadBefore, loadAfter: loadavg()[0] };
}

const env = await setUpNamespace(NAMESPACE);
const laptop = env.newLaptop('bench');
const web = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('laptop bench\n'));
// A reset by the client pod (a run cut short) must not crash the bench and leave its namespace behind.
const echo = createTcpServer((socket) => socket.on('error', () => socket.destroy()).pipe(socket));
try {
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  await env.tp(laptop, ['connect', '-n', NAMESPACE], 120_000);
  const url = `http://web.${NAMESPACE}/`;
  const classify = await cpuRoles(laptop, env);
  await inPod(loadScript([url]));
  const podsRequestRuns: RequestRun[] = [];
  for (let i = 0; i < REQUEST_ROUNDS; i++) podsRequestRuns.push(await requests(classify, [url]));
  await inPod(bulkScript(`raw.${NAMESPACE}`));
  const podsRuns: BulkRun[] = [];
  for (let i = 0; i < BULK_ROUNDS; i++) podsRuns.push(await bulkEcho(classify, `raw.${NAMESPACE}`));
  await env.tp(laptop, ['intercept', 'web', '--port', String((web.address() as AddressInfo).port)]);
  await env.tp(laptop, ['intercept', 'raw', '--port', String((echo.address() as AddressInfo).port)]);
  const interceptedRoles = await cpuRoles(laptop, env);
  await inPod(loadScript([url]));
  // Intercepted and relay-chain rounds alternate, as for bulk (the pods' rounds can only come
  // before: the intercept takes their place).
  const interceptedRequestRuns: RequestRun[] = [];
  const ceilingRequestRuns: RequestRun[] = [];
  const webPort = (web.address() as AddressInfo).port;
  const relayRequests = () => throughRelays(env, 'app=web', webPort, interceptedRoles, (chain, classifyChain) => requests(classifyChain, chain.entries.map((e) => `http://${e.host}:${e.port}/`)));
  await relayRequests();
  for (let i = 0; i < REQUEST_ROUNDS; i++) {
    interceptedRequestRuns.push(await requests(interceptedRoles, [url]));
    ceilingRequestRuns.push(await relayRequests());
  }
  const [pods, intercepted, ceilingRequests] = [podsRequestRuns, interceptedRequestRuns, ceilingRequestRuns].map(requestMedians);
  await inPod(bulkScript(`raw.${NAMESPACE}`));
  // Intercepted and relay-chain rounds alternate, so both see the machine's load alike.
  const interceptedRuns: BulkRun[] = [];
  const ceilingRuns: BulkRun[] = [];
  for (let i = 0; i < BULK_ROUNDS; i++) {
    interceptedRuns.push(await bulkEcho(interceptedRoles, `raw.${NAMESPACE}`));
    ceilingRuns.push(await throughRelays(env, 'app=raw', (echo.address() as AddressInfo).port, interceptedRoles, (chain, classifyChain) => bulkEcho(classifyChain, chain.host, chain.port)));
  }
  const [podsBulk, interceptedBulk, ceilingBulk] = [podsRuns, interceptedRuns, ceilingRuns].map(medians);
  const rows = [
    ['pods (no intercept)', pods, podsBulk],
    ['intercepted to laptop', intercepted, interceptedBulk],
  ] as const;
  const load = (r: { loadBefore: number; loadAfter: number }) => `${r.loadBefore.toFixed(1)}-${r.loadAfter.toFixed(1)}`;
  console.log(`${REQUESTS} requests, concurrency ${CONCURRENCY}, keep-alive; bulk ${BULK_MIB} MiB echoed (median of ${BULK_ROUNDS} after a warm-up); load average (1 min) before-after each`);
  console.log('path                    req/s     p50 ms   p99 ms  (load)     bulk MiB/s  (load)');
  for (const [name, r, b] of rows) console.log(`${name.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)}  ${load(r).padEnd(9)} ${b.mibPerS.toFixed(1).padStart(10)}  ${load(b)}`);
  console.log(`${'plain relays, same hops'.padEnd(22)} ${ceilingRequests.rps.toFixed(0).padStart(7)} ${ceilingRequests.p50.toFixed(2).padStart(9)} ${ceilingRequests.p99.toFixed(2).padStart(8)}  ${load(ceilingRequests).padEnd(9)} ${ceilingBulk.mibPerS.toFixed(1).padStart(10)}  ${load(ceilingBulk)}`);
  for (const [name, r] of [['pods', pods], ['intercepted', intercepted], ['relay chain', ceilingRequests]] as const) console.log(`CPU µs per keep-alive request, ${name} (medians): ${formatRoles(r.cpu, 1e6 / REQUESTS, 0)}`);
  for (const [name, b] of [['pods', podsBulk], ['intercepted', interceptedBulk], ['relay chain', ceilingBulk]] as const) console.log(`CPU s during the ${name} bulk echo (${BULK_MIB} MiB, medians): ${formatRoles(b.cpu)}`);
  console.log(`requests: plain relays over the same hops ${(ceilingRequests.rps / pods.rps).toFixed(2)}x the pods' requests/s (p99 ${(ceilingRequests.p99 / pods.p99).toFixed(2)}x); tp reaches ${(intercepted.rps / ceilingRequests.rps).toFixed(2)} of them (p99 ${(intercepted.p99 / ceilingRequests.p99).toFixed(2)}x theirs)`);
  console.log(`ratios: requests/s ${(intercepted.rps / pods.rps).toFixed(2)}x, p99 ${(intercepted.p99 / pods.p99).toFixed(2)}x, bulk ${(interceptedBulk.mibPerS / podsBulk.mibPerS).toFixed(2)}x (plain relays over the same hops: ${(ceilingBulk.mibPerS / podsBulk.mibPerS).toFixed(2)}x; tp reaches ${(interceptedBulk.mibPerS / ceilingBulk.mibPerS).toFixed(2)} of them)`);
  mkdirSync('bench/results', { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let profiles: ProfiledRun[] | undefined;
  if (process.env.BENCH_PROFILE === '1') {
    const targets = await profileTargets(laptop, env);
    profiles = [
      await profiled('intercepted bulk echo', targets, 'bench/results', `intercept-${stamp}-bulk`, () => inPod(bulkScript(`raw.${NAMESPACE}`))),
      await profiled('intercepted keep-alive requests', targets, 'bench/results', `intercept-${stamp}-requests`, () => inPod(loadScript([url]))),
    ];
    console.log(`\nProfiles (self time):\n${formatProfiles(profiles)}`);
  }
  if (process.env.BENCH_PERF_DIR) await perfRecorded(process.env.BENCH_PERF_DIR, await profileTargets(laptop, env), () => inPod(bulkScript(`raw.${NAMESPACE}`)));
  const file = `bench/results/intercept-${stamp}.json`;
  writeFileSync(file, JSON.stringify({ requests: REQUESTS, concurrency: CONCURRENCY, bulkMiB: BULK_MIB, loadAverage: loadavg(), pods, podsBulk, intercepted, interceptedBulk, ceilingRequests, ceilingBulk, requestRuns: { pods: podsRequestRuns, intercepted: interceptedRequestRuns, relays: ceilingRequestRuns }, bulkRuns: { pods: podsRuns, intercepted: interceptedRuns, relays: ceilingRuns }, profiles }, null, 2) + '\n');
  console.log(`wrote ${file}`);
} finally {
  await laptop.cleanup();
  web.close();
  echo.close();
  await tearDownNamespace(env);
}

type Env = Awaited<ReturnType<typeof setUpNamespace>>;

/**
 * A measurement through plain relays standing where tp's processes stand (intercept-ceiling.ts),
 * from the pod of `selector` to the laptop's server on `echoPort`: one chain per client
 * connection (CONCURRENCY; one for bulk), with their CPU (everything else as `others` says).
 */
async function throughRelays<T>(env: Env, selector: string, echoPort: number, others: Classifier, run: (chain: RelayChains, classify: Classifier) => Promise<T>): Promise<T> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const podOf = async (namespace: string, labelSelector: string): Promise<{ netns: string; ip: string }> => {
    const pod = (await core.listNamespacedPod({ namespace, labelSelector })).items.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    if (!pod?.metadata?.uid || !pod.status?.podIP) throw new Error(`no running pod ${labelSelector} in ${namespace}`);
    return { netns: podNetnsName(NETWORK_PREFIX, pod.metadata.uid), ip: pod.status.podIP };
  };
  const workload = await podOf(NAMESPACE, selector);
  const manager = await podOf(env.managerNamespace, 'app.kubernetes.io/name=traffic-manager');
  const options = { workloadNetns: workload.netns, workloadIp: workload.ip, managerNetns: manager.netns, managerIp: manager.ip, echoPort };
  const chain = await startRelayChains(options, selector === 'app=raw' ? 1 : CONCURRENCY);
  try {
    const classify: Classifier = (p) => chain.roleOf(p.pid) ?? others(p);
    return await run(chain, classify);
  } finally {
    await chain.close();
  }
}
type BenchLaptop = ReturnType<Env['newLaptop']>;
type RelayChains = Awaited<ReturnType<typeof startRelayChains>>;

/**
 * Runs a measurement and adds the CPU seconds each role spent during it (outbound-cpu.ts). This
 * process's own time (the laptop's servers) and its children's (the client pod's load) are
 * told apart.
 */
async function withCpu<T extends object>(classify: Classifier, run: () => Promise<T>): Promise<T & { cpu: CpuByRole }> {
  const before = snapshotCpu(classify);
  const ownBefore = process.cpuUsage();
  const result = await run();
  const own = process.cpuUsage(ownBefore);
  const cpu = cpuBetween(before, snapshotCpu(classify));
  const ownSeconds = Math.round((own.user + own.system) / 1e4) / 100;
  if (cpu[BENCH_ROLE] !== undefined) {
    cpu['client pod load'] = Math.max(0, Math.round((cpu[BENCH_ROLE] - ownSeconds) * 100) / 100);
    cpu['laptop server (bench process)'] = ownSeconds;
    delete cpu[BENCH_ROLE];
  }
  return { ...result, cpu };
}

/** One bulk echo from the client pod, with the CPU each role spent during it. */
async function bulkEcho(classify: Classifier, host: string, port?: number): Promise<BulkRun> {
  const { mibPerS, loadBefore, loadAfter, cpu } = await withCpu(classify, () => inPod(bulkScript(host, port)));
  return { mibPerS, loadBefore, loadAfter, cpu };
}

/** One keep-alive request run from the client pod, with the CPU each role spent during it. */
async function requests(classify: Classifier, urls: string[]): Promise<RequestRun> {
  const { rps, p50, p99, loadBefore, loadAfter, cpu } = await withCpu(classify, () => inPod(loadScript(urls)));
  return { rps, p50, p99, loadBefore, loadAfter, cpu };
}

interface RequestRun {
  rps: number;
  p50: number;
  p99: number;
  loadBefore: number;
  loadAfter: number;
  cpu: CpuByRole;
}

interface BulkRun {
  mibPerS: number;
  loadBefore: number;
  loadAfter: number;
  cpu: CpuByRole;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Every role's median CPU seconds over the runs, largest first. */
function medianCpu(runs: { cpu: CpuByRole }[]): CpuByRole {
  const roles = [...new Set(runs.flatMap((run) => Object.keys(run.cpu)))];
  return Object.fromEntries(roles.map((role): [string, number] => [role, median(runs.map((run) => run.cpu[role] ?? 0))]).sort((a, b) => b[1] - a[1]));
}

/** Each figure's median over the runs (rate, load, and every role's CPU seconds). */
function medians(runs: BulkRun[]): BulkRun {
  return { mibPerS: median(runs.map((run) => run.mibPerS)), loadBefore: median(runs.map((run) => run.loadBefore)), loadAfter: median(runs.map((run) => run.loadAfter)), cpu: medianCpu(runs) };
}

/** The same for request runs (each of rate, p50 and p99 its own median). */
function requestMedians(runs: RequestRun[]): RequestRun {
  const of = (key: 'rps' | 'p50' | 'p99' | 'loadBefore' | 'loadAfter') => median(runs.map((run) => run[key]));
  return { rps: of('rps'), p50: of('p50'), p99: of('p99'), loadBefore: of('loadBefore'), loadAfter: of('loadAfter'), cpu: medianCpu(runs) };
}

/** Roles' CPU, scaled (seconds by default), with the given decimals. */
function formatRoles(cpu: CpuByRole, scale = 1, decimals = 2): string {
  return Object.entries(cpu).map(([role, seconds]) => `${role} ${(seconds * scale).toFixed(decimals)}`).join(', ');
}

/** Roles along the intercepted path: the laptop's daemon, the manager, the pods (the agents run in raw's and web's), the API server and its port-forward socat. */
async function cpuRoles(laptop: BenchLaptop, env: Env): Promise<Classifier> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const inodeOf = async (namespace: string, labelSelector?: string, fieldSelector?: string): Promise<number | undefined> => {
    const pod = (await core.listNamespacedPod({ namespace, labelSelector, fieldSelector })).items.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    return pod?.metadata?.uid ? netnsInode(podNetnsName(NETWORK_PREFIX, pod.metadata.uid)) : undefined;
  };
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid?: number };
  const managerNs = await inodeOf(env.managerNamespace, 'app.kubernetes.io/name=traffic-manager');
  const rawNs = await inodeOf(NAMESPACE, 'app=raw');
  const webNs = new Set((await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app=web' })).items.map((p) => (p.metadata?.uid ? netnsInode(podNetnsName(NETWORK_PREFIX, p.metadata.uid)) : undefined)));
  const clientNs = await inodeOf(NAMESPACE, undefined, 'metadata.name=client');
  const sandboxPid = readPid(sandboxPaths());
  return (p) => {
    if (p.pid === process.pid) return BENCH_ROLE;
    if (p.pid === status.pid) return 'tp daemon';
    if (p.pid === sandboxPid) return 'sandbox API server';
    if (p.netnsInode === undefined) return undefined;
    if (p.comm === 'socat' && p.netnsInode === managerNs) return 'port-forward socat';
    if (p.netnsInode === managerNs) return 'tp manager';
    if (p.netnsInode === rawNs) return 'raw pod (echo or agent)';
    if (webNs.has(p.netnsInode)) return 'web pods (app or agent)';
    if (p.netnsInode === clientNs) return 'client pod';
    return undefined;
  };
}

/** Runs `work` with `perf record -g` on each target (their files: <dir>/<name>.data), then prints each one's CPU split. */
async function perfRecorded(dir: string, targets: ProfileTarget[], work: () => Promise<unknown>): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const records = targets.map((target) => perfRecord(target.pid, `${dir}/${target.name.replace(/\W+/g, '-')}.data`, 999));
  await new Promise((resolve) => setTimeout(resolve, 500));
  try {
    console.log(`perf-recorded intercepted bulk echo: ${JSON.stringify(await work())}; perf report -i ${dir}/<role>.data`);
  } finally {
    await Promise.all(records.map((record) => record.stop()));
  }
}

/** The laptop's daemon, this namespace's manager and the raw workload's agent, for profiling. */
async function profileTargets(laptop: BenchLaptop, env: Env): Promise<ProfileTarget[]> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const netnsOf = async (namespace: string, labelSelector: string): Promise<string | undefined> => {
    const pod = (await core.listNamespacedPod({ namespace, labelSelector })).items.find((p) => p.status?.phase === 'Running');
    return pod?.metadata?.uid ? podNetnsName(NETWORK_PREFIX, pod.metadata.uid) : undefined;
  };
  const targets: ProfileTarget[] = [];
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid?: number };
  if (status.pid) targets.push({ name: 'tp daemon', pid: status.pid });
  for (const [name, namespace, selector, needle] of [
    ['tp manager', env.managerNamespace, 'app.kubernetes.io/name=traffic-manager', 'manager serve'],
    ['tp agent (raw)', NAMESPACE, 'app=raw', 'agent serve'],
    ['tp agent (web)', NAMESPACE, 'app=web', 'agent serve'],
  ] as const) {
    const netns = await netnsOf(namespace, selector);
    const pid = netns ? findProcessInNetns(netns, needle) : undefined;
    if (pid && netns) targets.push({ name, pid, netns });
    else console.log(`(no ${name} process found to profile)`);
  }
  return targets;
}

// `npm run bench:wan` (as root, TP_E2E_KUBECONFIG set as for bench:outbound): tp on an emulated
// wide-area link. For each one-way delay (bench/delay-relay.ts between the laptop and the API
// server, so the daemon's tunnel and `ssh -D`'s port-forward cross the same delayed hop), side by
// side in one run: one download (one stream), eight concurrent downloads (eight streams, summed),
// and request latency (p50 of keep-alive requests and of new connections, one at a time) via tp's
// SOCKS5 and via `ssh -D`. Then small keep-alive requests' p99 through tp while a bulk download
// shares the path, against the same requests alone (tp and `ssh -D` alike), twice: undelayed,
// where the two cores are the bottleneck, and across a link that is (BENCH_LINK: one-way delay and
// rate, where what the senders keep in flight waits in the link's queue, as on Wi-Fi or a VPN).
// Prints tables and writes bench/results/wan-<date>.json. Not a test: nothing asserts speed. tp
// runs from dist/. Env: BENCH_DELAYS_MS (0,10,20), BENCH_BYTES (256 MiB per download),
// BENCH_DURATION_S (4), BENCH_ROUTES (tpSocks,sshSocks), BENCH_ROUNDS (3: rounds of the sharing
// measurement), BENCH_SHARING (0 skips it), BENCH_LINK (10:100, ms:Mbit/s; 0 skips that part).
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { newLaptop, type Laptop, type Listeners } from '../test/e2e/helpers/laptop.js';
import { asUser, TEST_USER } from '../test/helpers/unprivileged.js';
import { requireRoot, sandboxUp } from '../test/sandbox/lifecycle.js';
import { startDelayRelay, type DelayRelay } from './delay-relay.js';
import { BENCH_NAMESPACE, BULK_SERVICE_PORT, deployFixtures, removeFixtures, SSHD_POD, SSHD_PORT } from './outbound-fixtures.js';
import { download, requestRate, type MeasureContext, type Route } from './outbound-measure.js';
import { SshSocksProxy } from './outbound-ssh.js';

const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));
const DELAYS = (process.env.BENCH_DELAYS_MS ?? '0,10,20').split(',').filter(Boolean).map(Number);
const BYTES = Number(process.env.BENCH_BYTES ?? 256 * 2 ** 20);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 4);
const ROUTES = (process.env.BENCH_ROUTES ?? 'tpSocks,sshSocks').split(',');
const STREAMS = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SHARING = process.env.BENCH_SHARING !== '0';
const QUEUES = process.env.BENCH_QUEUES === '1';
const [LINK_DELAY_MS, LINK_MBPS] = (process.env.BENCH_LINK ?? '10:100').split(':').map(Number);
if (process.env.BENCH_LINK !== '0' && !(LINK_DELAY_MS! >= 0 && LINK_MBPS! > 0)) throw new Error(`BENCH_LINK=${process.env.BENCH_LINK}: give <one-way ms>:<Mbit/s>, e.g. 10:100, or 0 to skip the link`);

interface DelayResult {
  delayMs: number;
  route: string;
  bulk1Mbps?: number;
  bulk8Mbps?: number;
  keepAliveP50Ms?: number;
  newConnectionP50Ms?: number;
  error?: string;
}

const mbps = (bytesPerSecond: number): number => (bytesPerSecond * 8) / 1e6;

async function main(): Promise<void> {
  requireRoot('run the WAN benchmark');
  await sandboxUp();
  const ids = { uid: Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' })) };
  const keyDir = mkdtempSync(join(tmpdir(), 'tp-bench-wan-'));
  chownSync(keyDir, ids.uid, ids.gid);
  const laptop = newLaptop('bench-wan');
  const relays: DelayRelay[] = [];
  const started = new Date().toISOString();
  const load = [loadavg()[0]!];
  try {
    const fixtures = await deployFixtures(keyDir, ids);
    const baseUrl = `http://${fixtures.bulkClusterIP}:${BULK_SERVICE_PORT}`;
    await laptop.tp(['manager', 'install'], { timeoutMs: 120_000 });
    const context: MeasureContext = { env: laptop.env, workDir: laptop.home };
    const results: DelayResult[] = [];
    for (const delayMs of DELAYS) {
      const relay = await startDelayRelay(delayMs, apiServer(laptop));
      relays.push(relay);
      const kubeconfig = delayedKubeconfig(laptop, relay.port, keyDir, ids);
      const env = { ...laptop.env, KUBECONFIG: kubeconfig };
      for (const name of ROUTES) {
        const result: DelayResult = { delayMs, route: name };
        results.push(result);
        console.log(`== ${delayMs} ms one way: ${name}`);
        let close: () => Promise<unknown> = async () => undefined;
        try {
          const opened = await openRoute(laptop, name, kubeconfig, fixtures);
          const route = opened.route;
          close = opened.close;
          const ctx = { ...context, env };
          await download(route, `${baseUrl}/small`, 2, ctx, 30);
          result.bulk1Mbps = mbps((await download(route, `${baseUrl}/bytes/${BYTES}`, BYTES, ctx, 600)).bytesPerSecond);
          const each = Math.floor(BYTES / STREAMS);
          const t0 = performance.now();
          await Promise.all(Array.from({ length: STREAMS }, () => download(route, `${baseUrl}/bytes/${each}`, each, ctx, 600)));
          result.bulk8Mbps = mbps((each * STREAMS) / ((performance.now() - t0) / 1000));
          result.keepAliveP50Ms = (await requestRate(route, `${baseUrl}/small`, { keepAlive: true, durationS: DURATION_S, connections: 1 }, ctx)).latencyP50Ms;
          result.newConnectionP50Ms = (await requestRate(route, `${baseUrl}/small`, { keepAlive: false, durationS: DURATION_S, connections: 1 }, ctx)).latencyP50Ms;
        } catch (error) {
          result.error = (error as Error).message;
          console.log(`   failed: ${result.error}`);
        } finally {
          await close().catch(() => undefined);
        }
        console.log(`   ${JSON.stringify(result)}`);
      }
      load.push(loadavg()[0]!);
    }
    const sharing = SHARING ? await p99UnderBulk(laptop, laptop.env.KUBECONFIG!, context, baseUrl, fixtures) : [];
    let sharingLink: { delayMs: number; mbps: number; results: Sharing[] } | undefined;
    if (SHARING && process.env.BENCH_LINK !== '0') {
      const relay = await startDelayRelay(LINK_DELAY_MS ?? 0, apiServer(laptop), LINK_MBPS);
      relays.push(relay);
      console.log(`== across a ${LINK_MBPS} Mbit/s link, ${LINK_DELAY_MS} ms one way`);
      const results = await p99UnderBulk(laptop, delayedKubeconfig(laptop, relay.port, keyDir, ids), context, baseUrl, fixtures);
      sharingLink = { delayMs: LINK_DELAY_MS ?? 0, mbps: LINK_MBPS, results };
    }
    load.push(loadavg()[0]!);
    console.log(`\n${table(results)}\n`);
    const showSharing = (where: string, s: Sharing) =>
      console.log(`${s.route}, ${where}: small keep-alive requests (4 connections) p99, median of ${ROUNDS}: alone ${median(s.aloneP99Ms).toFixed(2)} ms, while a download shares the path ${median(s.sharedP99Ms).toFixed(2)} ms (${s.ratio.toFixed(2)}x); the download meanwhile ${median(s.bulkMbps).toFixed(0)} Mbit/s`);
    for (const s of sharing) showSharing('undelayed', s);
    for (const s of sharingLink?.results ?? []) showSharing(`${sharingLink!.mbps} Mbit/s link, ${sharingLink!.delayMs} ms one way`, s);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `wan-${started.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ startedAt: started, bytes: BYTES, durationS: DURATION_S, loadAverage: load, results, sharing, sharingLink }, null, 2) + '\n');
    console.log(`results: ${file}`);
  } finally {
    await laptop.cleanup();
    for (const relay of relays) await relay.close();
    await removeFixtures().catch(() => undefined);
    rmSync(keyDir, { recursive: true, force: true });
  }
}

/** The API server's address from the laptop's kubeconfig (the relay's target). */
function apiServer(laptop: Laptop): { host: string; port: number } {
  const kc = new KubeConfig();
  kc.loadFromFile(laptop.env.KUBECONFIG!);
  const url = new URL(kc.getCurrentCluster()!.server);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
}

/** A copy of the laptop's kubeconfig whose server is the relay (same certificate: same IP). */
function delayedKubeconfig(laptop: Laptop, relayPort: number, dir: string, ids: { uid: number; gid: number }): string {
  const kc = new KubeConfig();
  kc.loadFromFile(laptop.env.KUBECONFIG!);
  const cluster = kc.getCurrentCluster()!;
  const url = new URL(cluster.server);
  url.port = String(relayPort);
  const clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: url.toString().replace(/\/$/, '') } : c));
  const delayed = new KubeConfig();
  delayed.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
  const file = join(dir, `kubeconfig-${relayPort}`);
  writeFileSync(file, delayed.exportConfig(), { mode: 0o600 });
  chownSync(file, ids.uid, ids.gid);
  return file;
}

/** tp's SOCKS5 door (`tp connect`) or `ssh -D`, reaching the API server as `kubeconfig` says, and how to close it again. */
async function openRoute(laptop: Laptop, name: string, kubeconfig: string, fixtures: { sshKey: string }): Promise<{ route: Route; close: () => Promise<unknown> }> {
  if (name === 'tpSocks') return { route: { kind: 'socks5', proxy: (await connectTp(laptop, kubeconfig)).socks }, close: () => laptop.tp(['quit']) };
  const env = { ...laptop.env, KUBECONFIG: kubeconfig };
  const ssh = await SshSocksProxy.start({ namespace: BENCH_NAMESPACE, pod: SSHD_POD, podPort: SSHD_PORT, key: fixtures.sshKey, env });
  return { route: { kind: 'socks5', proxy: `127.0.0.1:${ssh.socksPort}` }, close: () => ssh.close() };
}

async function connectTp(laptop: Laptop, kubeconfig: string): Promise<Listeners> {
  const { stdout } = await laptop.tp(['connect', '--output', 'json'], { timeoutMs: 90_000, env: { KUBECONFIG: kubeconfig } });
  return (JSON.parse(stdout) as { status: { listeners: Listeners } }).status.listeners;
}

interface Sharing {
  route: string;
  /** p99 of small keep-alive requests (ms), per round: alone, and while a download runs. */
  aloneP99Ms: number[];
  sharedP99Ms: number[];
  /** The download's rate while it shared the path (Mbit/s), per round. */
  bulkMbps: number[];
  /** median(shared) / median(alone). */
  ratio: number;
}

/**
 * Small requests' p99 alone, then while one download runs through the same path, in interleaved
 * rounds (medians), through tp's SOCKS5 and through `ssh -D`, both reaching the API server as
 * `kubeconfig` says.
 */
async function p99UnderBulk(laptop: Laptop, kubeconfig: string, context: MeasureContext, baseUrl: string, fixtures: { sshKey: string }): Promise<Sharing[]> {
  console.log('== small requests with and without a bulk download on the same path');
  context = { ...context, env: { ...laptop.env, KUBECONFIG: kubeconfig } };
  const out: Sharing[] = [];
  for (const name of ROUTES) {
    const { route, close } = await openRoute(laptop, name, kubeconfig, fixtures);
    const sharing: Sharing = { route: name, aloneP99Ms: [], sharedP99Ms: [], bulkMbps: [], ratio: NaN };
    try {
      const rate = () => requestRate(route, `${baseUrl}/small`, { keepAlive: true, durationS: DURATION_S, connections: 4 }, context);
      for (let round = 0; round < ROUNDS; round++) {
        sharing.aloneP99Ms.push((await rate()).latencyP99Ms ?? NaN);
        const bulk = downloadFor(route, `${baseUrl}/bytes/${64 * 2 ** 30}`, DURATION_S + 1.5, context);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const shared = rate();
        if (QUEUES && name === 'tpSocks') await showQueues(laptop);
        sharing.sharedP99Ms.push((await shared).latencyP99Ms ?? NaN);
        sharing.bulkMbps.push(mbps(await bulk));
      }
    } finally {
      await close().catch(() => undefined);
    }
    sharing.ratio = median(sharing.sharedP99Ms) / median(sharing.aloneP99Ms);
    console.log(`   ${JSON.stringify(sharing)}`);
    out.push(sharing);
  }
  return out;
}

/**
 * BENCH_QUEUES=1: while the requests share the path with a download, what each of the daemon's
 * tunnels carries (`tp status`) and what the kernel holds on the laptop's sockets to the API
 * server (`ss`: Send-Q and Recv-Q), to see where the requests wait.
 */
async function showQueues(laptop: Laptop): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const { port } = apiServer(laptop);
  const [status, sockets] = await Promise.all([
    laptop.tp(['status', '--output', 'json']).then(({ stdout }) => JSON.stringify((JSON.parse(stdout) as { manager?: { tunnels?: unknown } }).manager?.tunnels)),
    new Promise<string>((resolve) => execFile('ss', ['-tni', 'state', 'established', `( dport = :${port} or sport = :${port} )`], { encoding: 'utf8' }, (_e, out) => resolve(out))),
  ]);
  console.log(`   tunnels: ${status}`);
  for (const line of sockets.split('\n').filter((l) => /^\s*\d/.test(l))) console.log(`   ss: ${line.trim().split(/\s+/).slice(0, 4).join(' ')}`);
}

/** Downloads through `route` for `seconds` (curl's --max-time), returns the bytes/s it got. */
async function downloadFor(route: Route, url: string, seconds: number, context: MeasureContext): Promise<number> {
  const envArgs = Object.entries(context.env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  const [file, args] = asUser('env', ['-i', ...envArgs, 'curl', '-sS', '--max-time', String(seconds), '-o', '/dev/null', '-w', '%{size_download} %{time_total}', '--socks5-hostname', route.kind === 'socks5' ? route.proxy : '', url]);
  const stdout = await new Promise<string>((resolve) => execFile(file, args, { encoding: 'utf8' }, (_error, out) => resolve(out)));
  const [bytes, total] = stdout.trim().split(' ').map(Number);
  return bytes! / total!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function table(results: DelayResult[]): string {
  const cell = (value: number | undefined, digits = 0): string => (value === undefined ? '-' : value.toFixed(digits)).padStart(14);
  const lines = [`${'one-way'.padEnd(9)}${'route'.padEnd(10)}${'1 stream Mbit/s'.padStart(16)}${'8 streams'.padStart(14)}${'req p50 ms'.padStart(14)}${'new conn ms'.padStart(14)}`];
  for (const r of results) {
    lines.push(`${`${r.delayMs} ms`.padEnd(9)}${r.route.padEnd(10)}${cell(r.bulk1Mbps).padStart(16)}${cell(r.bulk8Mbps)}${cell(r.keepAliveP50Ms, 2)}${cell(r.newConnectionP50Ms, 2)}${r.error ? `  failed: ${r.error.slice(0, 80)}` : ''}`);
  }
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(`WAN benchmark failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});

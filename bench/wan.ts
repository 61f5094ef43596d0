// `npm run bench:wan` (as root, TP_E2E_KUBECONFIG set as for bench:outbound): tp on an emulated
// wide-area link. For each one-way delay (bench/delay-relay.ts between the laptop and the API
// server, so the daemon's tunnel and `ssh -D`'s port-forward cross the same delayed hop), side by
// side in one run: one download (one stream), eight concurrent downloads (eight streams, summed),
// and request latency (p50 of keep-alive requests and of new connections, one at a time) via tp's
// SOCKS5 and via `ssh -D`. Then, undelayed, small keep-alive requests' p99 through tp while a bulk
// download shares the tunnel, against the same requests alone. Prints tables and writes
// bench/results/wan-<date>.json. Not a test: nothing asserts speed. tp runs from dist/.
// Env: BENCH_DELAYS_MS (0,10,20), BENCH_BYTES (256 MiB per download), BENCH_DURATION_S (4),
// BENCH_ROUTES (tpSocks,sshSocks).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { newLaptop, type Laptop, type Listeners } from '../test/e2e/helpers/laptop.js';
import { TEST_USER } from '../test/helpers/unprivileged.js';
import { requireRoot, sandboxUp } from '../test/sandbox/lifecycle.js';
import { startDelayRelay, type DelayRelay } from './delay-relay.js';
import { BENCH_NAMESPACE, BULK_SERVICE_PORT, deployFixtures, removeFixtures, SSHD_POD, SSHD_PORT } from './outbound-fixtures.js';
import { download, requestRate, type MeasureContext, type Route } from './outbound-measure.js';
import { SshSocksProxy } from './outbound-ssh.js';

const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));
const DELAYS = (process.env.BENCH_DELAYS_MS ?? '0,10,20').split(',').map(Number);
const BYTES = Number(process.env.BENCH_BYTES ?? 256 * 2 ** 20);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 4);
const ROUTES = (process.env.BENCH_ROUTES ?? 'tpSocks,sshSocks').split(',');
const STREAMS = 8;

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
          let route: Route;
          if (name === 'tpSocks') {
            route = { kind: 'socks5', proxy: (await connectTp(laptop, kubeconfig)).socks };
            close = () => laptop.tp(['quit']);
          } else {
            const ssh = await SshSocksProxy.start({ namespace: BENCH_NAMESPACE, pod: SSHD_POD, podPort: SSHD_PORT, key: fixtures.sshKey, env });
            route = { kind: 'socks5', proxy: `127.0.0.1:${ssh.socksPort}` };
            close = () => ssh.close();
          }
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
    const sharing = await p99UnderBulk(laptop, context, baseUrl);
    load.push(loadavg()[0]!);
    console.log(`\n${table(results)}\n`);
    console.log(`small keep-alive requests through tp SOCKS5 (4 connections), p99: alone ${sharing.aloneP99Ms?.toFixed(2)} ms, while a bulk download shares the tunnel ${sharing.sharedP99Ms?.toFixed(2)} ms (${sharing.ratio.toFixed(2)}x)`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `wan-${started.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ startedAt: started, bytes: BYTES, durationS: DURATION_S, loadAverage: load, results, sharing }, null, 2) + '\n');
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

async function connectTp(laptop: Laptop, kubeconfig: string): Promise<Listeners> {
  const { stdout } = await laptop.tp(['connect', '--output', 'json'], { timeoutMs: 90_000, env: { KUBECONFIG: kubeconfig } });
  return (JSON.parse(stdout) as { status: { listeners: Listeners } }).status.listeners;
}

/** Small requests' p99 through tp alone, then while one bulk download runs through the same tunnel. */
async function p99UnderBulk(laptop: Laptop, context: MeasureContext, baseUrl: string): Promise<{ aloneP99Ms?: number; sharedP99Ms?: number; ratio: number }> {
  console.log('== small requests with and without a bulk download in the tunnel');
  const route: Route = { kind: 'socks5', proxy: (await connectTp(laptop, laptop.env.KUBECONFIG!)).socks };
  try {
    const rate = () => requestRate(route, `${baseUrl}/small`, { keepAlive: true, durationS: DURATION_S, connections: 4 }, context);
    const alone = await rate();
    const big = 64 * 2 ** 30; // far more than the window: the download runs for the whole measurement
    const bulk = download(route, `${baseUrl}/bytes/${big}`, big, context, DURATION_S + 3).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const shared = await rate();
    await bulk;
    return { aloneP99Ms: alone.latencyP99Ms, sharedP99Ms: shared.latencyP99Ms, ratio: (shared.latencyP99Ms ?? NaN) / (alone.latencyP99Ms ?? NaN) };
  } finally {
    await laptop.tp(['quit']).catch(() => undefined);
  }
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

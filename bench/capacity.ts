// `npm run bench:capacity` (as root): what idle connections cost. It brings the sandbox up if
// needed, deploys the demo workloads, installs the manager and connects tp as the unprivileged
// laptop user, then holds idle connections through tp's SOCKS5 proxy to the cluster's tcp-echo
// Service (one Python client per step, test/e2e/helpers/hold-connections.py; every connection
// echoes its own bytes before it counts) and prints the daemon's and the manager's RSS at 0,
// 1,000 and 10,000 connections, and after they all closed (once the daemon's tunnels are back
// to their base count and a settle time has passed); each reading is taken as is and again right
// after a forced garbage collection in both (through the inspector), which tells memory held from
// memory V8 merely has not collected yet. Per-connection cost = RSS growth from 0 to 10,000
// divided by 10,000. Writes bench/results/capacity-<date>.json. Not a test: nothing
// asserts a figure. tp runs from dist/: `npm run build` first when src/ changed.
// Env: BENCH_STEPS (1000,10000: cumulative connection counts), BENCH_SETTLE_S (10: wait before
// each reading, so buffers and garbage settle).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { DEFAULT_MANAGER_NAMESPACE, MANAGER_SELECTOR } from '../src/api/names.js';
import { TP_VERSION } from '../src/version.js';
import { ConnectionHolder, HOLD_CONNECTIONS } from '../test/e2e/helpers/connection-holder.js';
import { connect, ensureDemoAndManager, eventually, newLaptop } from '../test/e2e/helpers/laptop.js';
import { kubeConfig } from '../test/sandbox/e2e/sandbox-client.js';
import { requireRoot, sandboxDown, sandboxUp } from '../test/sandbox/lifecycle.js';
import { podNetnsName } from '../test/sandbox/node/names.js';
import { NETWORK_PREFIX } from '../test/sandbox/state.js';
import { InspectorProfiler } from './outbound-profile.js';
import { findProcessInNetns } from './outbound-profiling.js';

const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));
const TP_DIST = fileURLToPath(new URL('../dist/commands/connect.js', import.meta.url));
const ECHO = { host: 'tcp-echo.default', port: 9000 };
const BASE_TUNNELS = 2;
/** The per-connection daemon RSS this benchmark is judged against (issue 9). */
const TARGET_KB_PER_CONNECTION = 20;

interface Reading {
  label: string;
  connections: number;
  tunnels: number;
  /** RSS as the user sees it. */
  daemonRssKb: number;
  managerRssKb: number;
  /** RSS right after a full garbage collection: what the connections really hold. */
  daemonGcRssKb: number;
  managerGcRssKb: number;
  /** V8 heap in use after that collection: what JavaScript objects hold. */
  daemonHeapKb: number;
  managerHeapKb: number;
}

function config() {
  const steps = (process.env.BENCH_STEPS ?? '1000,10000').split(',').map(Number);
  if (steps.some((n, i) => !Number.isSafeInteger(n) || n <= 0 || (i > 0 && n <= steps[i - 1]))) throw new Error('BENCH_STEPS must be increasing positive integers, e.g. 1000,10000');
  const settleS = Number(process.env.BENCH_SETTLE_S ?? 10);
  if (!Number.isFinite(settleS) || settleS < 0) throw new Error('BENCH_SETTLE_S must be a number of seconds');
  return { steps, settleMs: settleS * 1000 };
}

/** Resident set size of a process in KiB (VmRSS). */
function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.split(/\s+/)[1]);
}

async function managerProcess(): Promise<{ pid: number; netns: string }> {
  const selector = Object.entries(MANAGER_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = (await kubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: DEFAULT_MANAGER_NAMESPACE, labelSelector: selector })).items;
  const uid = pods.find((pod) => pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp)?.metadata?.uid;
  const netns = uid ? podNetnsName(NETWORK_PREFIX, uid) : undefined;
  const pid = netns ? findProcessInNetns(netns, 'manager serve') : undefined;
  if (pid === undefined || netns === undefined) throw new Error('cannot find the traffic-manager process');
  return { pid, netns };
}

async function main(): Promise<void> {
  const { steps, settleMs } = config();
  requireRoot('run the capacity benchmark');
  if (!existsSync(TP_DIST)) throw new Error(`tp is not built (${TP_DIST} is missing): run npm run build first`);
  const up = await sandboxUp();
  const laptop = newLaptop('bench-capacity');
  const holders: ConnectionHolder[] = [];
  try {
    await ensureDemoAndManager(laptop);
    const { listeners } = await connect(laptop);
    const status = async () => JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid: number; manager: { tunnels: unknown[] } };
    const daemon = (await status()).pid;
    const managerAt = await managerProcess();
    const manager = managerAt.pid;
    const readings: Reading[] = [];
    let open = 0;
    const collectGarbage = async (pid: number, netns?: string): Promise<number> => {
      const inspector = await InspectorProfiler.attach(pid, netns);
      try {
        return Math.round((await inspector.collectGarbage()).heapUsed / 1024);
      } finally {
        await inspector.close();
      }
    };
    const read = async (label: string): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const tunnels = (await status()).manager.tunnels.length;
      const [daemonRssKb, managerRssKb] = [rssKb(daemon), rssKb(manager)];
      const daemonHeapKb = await collectGarbage(daemon);
      const managerHeapKb = await collectGarbage(manager, managerAt.netns);
      const reading = { label, connections: open, tunnels, daemonRssKb, managerRssKb, daemonGcRssKb: rssKb(daemon), managerGcRssKb: rssKb(manager), daemonHeapKb, managerHeapKb };
      readings.push(reading);
      console.log(
        `${label.padEnd(24)} ${String(tunnels).padStart(3)} tunnels   daemon ${mb(daemonRssKb)} (after GC ${mb(reading.daemonGcRssKb)}, heap ${mb(daemonHeapKb)})` +
          `   manager ${mb(managerRssKb)} (after GC ${mb(reading.managerGcRssKb)}, heap ${mb(managerHeapKb)})`,
      );
    };
    console.log(`tp ${TP_VERSION}, node ${process.version}, load average ${loadavg()[0].toFixed(1)}; SOCKS5 ${listeners.socks} -> ${ECHO.host}:${ECHO.port}`);
    await read('0 connections');
    for (const target of steps) {
      const holder = ConnectionHolder.start(laptop.env, ['python3', HOLD_CONNECTIONS, `socks=${listeners.socks}`, ECHO.host, String(ECHO.port), String(target - open)]);
      holders.push(holder);
      const started = performance.now();
      const report = await holder.held();
      if (report.failed > 0) throw new Error(`${report.failed} of ${target - open} connections failed: ${report.failures.join('; ')}`);
      console.log(`  (${target - open} opened and echoed in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
      open = target;
      await read(`${target} idle connections`);
    }
    for (const holder of holders.splice(0)) await holder.release();
    open = 0;
    await eventually(async () => {
      const tunnels = (await status()).manager.tunnels.length;
      if (tunnels !== BASE_TUNNELS) throw new Error(`${tunnels} tunnels`);
    }, 120_000, 1000);
    await read('all closed');

    const zero = readings[0];
    const peak = readings[readings.length - 2];
    const closed = readings[readings.length - 1];
    const perConnection = (from: number, to: number) => (to - from) / peak.connections;
    const summary = {
      daemonKbPerConnection: perConnection(zero.daemonRssKb, peak.daemonRssKb),
      daemonGcKbPerConnection: perConnection(zero.daemonGcRssKb, peak.daemonGcRssKb),
      managerKbPerConnection: perConnection(zero.managerRssKb, peak.managerRssKb),
      managerGcKbPerConnection: perConnection(zero.managerGcRssKb, peak.managerGcRssKb),
      daemonGcAboveStartKb: closed.daemonGcRssKb - zero.daemonGcRssKb,
      managerGcAboveStartKb: closed.managerGcRssKb - zero.managerGcRssKb,
      daemonHeapAboveStartKb: closed.daemonHeapKb - zero.daemonHeapKb,
      managerHeapAboveStartKb: closed.managerHeapKb - zero.managerHeapKb,
    };
    console.log(
      `\nper idle connection (0 -> ${peak.connections}): daemon ${summary.daemonKbPerConnection.toFixed(1)} KiB, ${summary.daemonGcKbPerConnection.toFixed(1)} KiB after GC (target <= ${TARGET_KB_PER_CONNECTION});` +
        ` manager ${summary.managerKbPerConnection.toFixed(1)} KiB, ${summary.managerGcKbPerConnection.toFixed(1)} KiB after GC` +
        `\nafter all closed, after GC, compared with the start: daemon RSS ${signedMb(summary.daemonGcAboveStartKb)}, heap ${signedMb(summary.daemonHeapAboveStartKb)};` +
        ` manager RSS ${signedMb(summary.managerGcAboveStartKb)}, heap ${signedMb(summary.managerHeapAboveStartKb)}`,
    );
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = `${RESULTS_DIR}capacity-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    writeFileSync(file, JSON.stringify({ tp: TP_VERSION, commit, node: process.version, loadAverage: loadavg()[0], settleMs, readings, summary }, null, 2) + '\n');
    console.log(`results: ${file}`);
  } finally {
    for (const holder of holders) holder.kill();
    await laptop.cleanup();
    if (!up.alreadyRunning) await sandboxDown();
  }
}

function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1).padStart(6)} MiB`;
}

function signedMb(kb: number): string {
  return `${kb >= 0 ? '+' : ''}${(kb / 1024).toFixed(1)} MiB`;
}

main().catch((error: unknown) => {
  console.error(`capacity benchmark failed: ${(error as Error).message ?? String(error)}`);
  process.exitCode = 1;
});

// `npm run bench` (as root): every benchmark in one go, then one table of the ratios issue 16 set
// as goals, each taken side by side within one benchmark's run. Brings the sandbox up once (and
// down again if it was down), points the e2e helpers at it (TP_E2E_KUBECONFIG, unless set), runs
// each bench/*.ts as its own process, collects the JSON each writes under bench/results/, and
// writes bench/results/all-<date>.json (machine, load average before and after each benchmark,
// the files, the ratios). `--quick` is a smoke run: smaller transfers, shorter runs, one round.
// `--only tunnel,wan` runs some. A benchmark that fails is reported and the rest still run.
// Not a test: nothing here asserts speed; the goal column only says how far each figure is.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot, sandboxDown, sandboxUp } from '../test/sandbox/lifecycle.js';
import { sandboxPaths } from '../test/sandbox/state.js';
import { summarize, formatSummary } from './summary.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RESULTS_DIR = join(HERE, 'results');
const MiB = 2 ** 20;

interface Bench {
  name: string;
  /** The prefix of the JSON file it writes under bench/results/. */
  result: string;
  env: Record<string, string>;
  quickEnv: Record<string, string>;
  args?: string[];
  quickArgs?: string[];
}

const BENCHES: Bench[] = [
  { name: 'tunnel', result: 'tunnel', env: {}, quickEnv: { BENCH_BULK_BYTES: String(256 * MiB), BENCH_DURATION_MS: '1500', BENCH_ROUNDS: '1', BENCH_ONLY: 'direct,ssh -L,tp ws,node mux' } },
  { name: 'owner-check', result: 'owner-check', env: {}, quickEnv: { BENCH_CONNECTIONS: '100,1000' } },
  { name: 'cli', result: 'cli', env: {}, quickEnv: { BENCH_ROUNDS: '5' } },
  { name: 'run', result: 'run', env: {}, quickEnv: { BENCH_DURATION_S: '2' } },
  { name: 'outbound', result: 'outbound', env: {}, quickEnv: { BENCH_BYTES: String(256 * MiB), BENCH_DURATION_S: '2' } },
  { name: 'wan', result: 'wan', env: {}, quickEnv: { BENCH_DELAYS_MS: '0,20', BENCH_BYTES: String(64 * MiB), BENCH_DURATION_S: '2', BENCH_ROUNDS: '1' } },
  { name: 'intercept', result: 'intercept', env: {}, quickEnv: {}, quickArgs: ['1000', '8', '16'] },
  { name: 'capacity', result: 'capacity', env: {}, quickEnv: { BENCH_STEPS: '1000', BENCH_SETTLE_S: '3' } },
];

interface Run {
  name: string;
  exitCode: number | null;
  seconds: number;
  loadBefore: number[];
  loadAfter: number[];
  file?: string;
}

function parseArgs(argv: string[]): { quick: boolean; only?: string[] } {
  let quick = false;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only') only = (argv[++i] ?? '').split(',');
    else if (arg.startsWith('--only=')) only = arg.slice('--only='.length).split(',');
    else throw new Error(`unknown argument ${arg} (known: --quick, --only a,b)`);
  }
  const known = BENCHES.map((b) => b.name);
  for (const name of only ?? []) if (!known.includes(name)) throw new Error(`--only: unknown benchmark ${name} (known: ${known.join(', ')})`);
  return { quick, only };
}

/** The newest bench/results/<prefix>-*.json written since `since` (ms), if any. */
function newestResult(prefix: string, since: number): string | undefined {
  let best: { file: string; mtime: number } | undefined;
  for (const name of readdirSync(RESULTS_DIR)) {
    if (!name.startsWith(`${prefix}-`) || !name.endsWith('.json') || !/^\d/.test(name.slice(prefix.length + 1))) continue;
    const file = join(RESULTS_DIR, name);
    const mtime = statSync(file).mtimeMs;
    if (mtime >= since && (!best || mtime > best.mtime)) best = { file, mtime };
  }
  return best?.file;
}

function runBench(bench: Bench, quick: boolean): Promise<Run> {
  const started = Date.now();
  const loadBefore = loadavg();
  const env = { ...process.env, ...bench.env, ...(quick ? bench.quickEnv : {}) };
  const args = quick && bench.quickArgs ? bench.quickArgs : (bench.args ?? []);
  console.log(`\n######## ${bench.name}${quick ? ' (quick)' : ''}: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, `${bench.name}.ts`), ...args], { stdio: 'inherit', env, detached: true });
  // A benchmark that has not exited by its bound is stopped (its whole process group), so one
  // stuck run cannot hold up the others; results it wrote before still count.
  const boundMinutes = Number(process.env.BENCH_MAX_MINUTES ?? (quick ? 10 : 40));
  const stop = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  const term = setTimeout(() => {
    console.log(`\n######## ${bench.name}: still running after ${boundMinutes} min (BENCH_MAX_MINUTES); stopping it`);
    stop('SIGTERM');
  }, boundMinutes * 60_000);
  const kill = setTimeout(() => stop('SIGKILL'), boundMinutes * 60_000 + 15_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      const file = newestResult(bench.result, started);
      resolve({ name: bench.name, exitCode: code, seconds: (Date.now() - started) / 1000, loadBefore, loadAfter: loadavg(), file });
    });
  });
}

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  requireRoot('run the benchmarks');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const up = await sandboxUp();
  process.env.TP_E2E_KUBECONFIG ??= sandboxPaths().kubeconfig;
  const startedAt = new Date().toISOString();
  const runs: Run[] = [];
  try {
    for (const bench of BENCHES) {
      if (only && !only.includes(bench.name)) continue;
      runs.push(await runBench(bench, quick));
    }
  } finally {
    if (!up.alreadyRunning) await sandboxDown();
  }
  const results = Object.fromEntries(runs.filter((r) => r.file).map((r) => [r.name, JSON.parse(readFileSync(r.file!, 'utf8')) as unknown]));
  const summary = summarize(results);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  console.log(`\n######## summary (${quick ? 'quick' : 'full'} run, ${startedAt}, ${machine.cpus} × ${machine.cpuModel})`);
  for (const run of runs) console.log(`${run.name.padEnd(12)} ${run.exitCode === 0 ? 'ok    ' : `FAILED (exit ${run.exitCode})`} ${run.seconds.toFixed(0).padStart(5)} s  load ${run.loadBefore[0]!.toFixed(2)} → ${run.loadAfter[0]!.toFixed(2)}  ${run.file ?? '(no results file)'}`);
  console.log(`\n${formatSummary(summary)}`);
  const file = join(RESULTS_DIR, `all-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), quick, machine, runs, summary }, null, 2) + '\n');
  console.log(`\nresults: ${file}`);
  if (runs.some((run) => run.exitCode !== 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message ?? String(error)}`);
  process.exitCode = 1;
});

// `npm run bench:cli` (as root, TP_E2E_KUBECONFIG set as for bench:outbound): how long the tp CLI
// takes to start and finish, as the laptop user runs it (bin/tp), with a daemon connected:
// `tp version`, `tp status` and `tp run -- true`, next to `node -e 0` (the floor every command
// pays). Rounds interleave the commands so other load on the machine hits them alike; the table
// shows the median wall time and CPU time (user + system, /usr/bin/time) of each. Writes
// bench/results/cli-<date>.json. BENCH_PROFILE_DIR=<dir> also writes one CPU profile per command
// (node --cpu-prof bin/run.js: Node refuses --cpu-prof in NODE_OPTIONS). Not a test: nothing asserts speed. tp runs from dist/.
// Env: BENCH_ROUNDS (15).
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CHECKOUT, newLaptop } from '../test/e2e/helpers/laptop.js';
import { asUser } from '../test/helpers/unprivileged.js';
import { requireRoot, sandboxUp } from '../test/sandbox/lifecycle.js';

const execFileAsync = promisify(execFile);
const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const TP = join(CHECKOUT, 'bin/tp');

const COMMANDS: Record<string, string[]> = {
  'node -e 0': [process.execPath, '-e', '0'],
  'tp version': [TP, 'version'],
  'tp status': [TP, 'status'],
  'tp run -- true': [TP, 'run', '--', 'true'],
};

interface Timing {
  wallMs: number;
  cpuMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  requireRoot('run the CLI benchmark');
  await sandboxUp();
  const laptop = newLaptop('bench-cli');
  const load = [loadavg()[0]!];
  try {
    await laptop.tp(['manager', 'install'], { timeoutMs: 120_000 });
    await laptop.tp(['connect'], { timeoutMs: 90_000 });
    const envArgs = Object.entries(laptop.env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
    const time = async (argv: string[]): Promise<Timing> => {
      const [file, args] = asUser('env', ['-i', ...envArgs, '/usr/bin/time', '-f', 'TIME %e %U %S', ...argv]);
      const { stderr } = await execFileAsync(file, args, { encoding: 'utf8', cwd: CHECKOUT, timeout: 60_000 });
      const [, wall, user, system] = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(stderr)!.map(Number);
      return { wallMs: wall! * 1000, cpuMs: (user! + system!) * 1000 };
    };
    const samples: Record<string, Timing[]> = {};
    for (const argv of Object.values(COMMANDS)) await time(argv); // warm the page cache
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, argv] of Object.entries(COMMANDS)) (samples[name] ??= []).push(await time(argv));
    }
    load.push(loadavg()[0]!);
    if (PROFILE_DIR) {
      mkdirSync(PROFILE_DIR, { recursive: true });
      chownSync(PROFILE_DIR, ...ids(laptop.env));
      for (const [name, argv] of Object.entries(COMMANDS)) {
        if (!name.startsWith('tp')) continue;
        const dir = join(PROFILE_DIR, name.replace(/\W+/g, '-'));
        mkdirSync(dir, { recursive: true });
        chownSync(dir, ...ids(laptop.env));
        await time([process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, join(CHECKOUT, 'bin/run.js'), ...argv.slice(1)]);
      }
    }
    const rows = Object.entries(samples).map(([name, timings]) => ({ name, wallMs: median(timings.map((t) => t.wallMs)), cpuMs: median(timings.map((t) => t.cpuMs)) }));
    console.log(`median of ${ROUNDS} rounds, load average ${load.map((l) => l.toFixed(2)).join(' → ')}`);
    console.log(`${'command'.padEnd(18)}${'wall ms'.padStart(10)}${'CPU ms'.padStart(10)}`);
    for (const row of rows) console.log(`${row.name.padEnd(18)}${row.wallMs.toFixed(0).padStart(10)}${row.cpuMs.toFixed(0).padStart(10)}`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `cli-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ rounds: ROUNDS, loadAverage: load, rows, samples }, null, 2) + '\n');
    console.log(`results: ${file}`);
  } finally {
    await laptop.cleanup();
  }
}

/** The laptop user's uid and gid, from the owner of its home. */
function ids(env: NodeJS.ProcessEnv): [number, number] {
  const stat = statSync(env.HOME!);
  return [stat.uid, stat.gid];
}

main().catch((error: unknown) => {
  console.error(`CLI benchmark failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});

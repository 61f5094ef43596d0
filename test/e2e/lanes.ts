// Runs tp's end-to-end test files in parallel lanes: each file is its own `ava --serial` process
// (its tests one after another, as they are written), and up to TP_E2E_LANES files (default 2) run
// at once, the longest-running first so the lanes end together. Files work in namespaces, managers
// and laptops of their own, so they can share a cluster; the few that disturb everyone (restarting
// the API server, killing the shared manager, holding ten thousand connections) run alone,
// afterwards. Each file's output is printed whole when it ends, with its time; a summary of the
// times and the failed files closes the run. Used by test/e2e/run.ts and test/sandbox/run-tests.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));

/** Files that must have the cluster to themselves, and why. */
const ALONE: Array<[RegExp, string]> = [
  [/^test\/e2e\/faults\//, 'restarts the API server or kills a manager on purpose'],
  [/^test\/e2e\/connect\.test\.ts$/, 'deletes the shared traffic-manager pod that other files use'],
  [/^test\/e2e\/capacity\.test\.ts$/, 'holds 10,000 connections: the machine\'s file and port budget'],
  // npm pack runs the package's prepack, which rebuilds dist/ in place: a tp started meanwhile by
  // another file loaded a half-written module ("does not provide an export named …").
  [/^test\/e2e\/package\.test\.ts$/, 'npm pack rebuilds dist/, which every other file runs tp from'],
];

/**
 * Files that take longest (from the runs' summaries), started first so that no lane is left with a
 * long file at the end. Order only; a file missing here runs after these.
 */
const LONGEST_FIRST = [
  'test/e2e/close/matrix.test.ts',
  'test/e2e/intercept/global.test.ts',
  'test/e2e/intercept/readiness.test.ts',
  'test/e2e/pod-security.test.ts',
  'test/e2e/intercept/lifecycle.test.ts',
  'test/e2e/docker/docker.test.ts',
  'test/e2e/docker/intercept.test.ts',
  'test/e2e/gather-logs.test.ts',
  'test/e2e/volumes/copy.test.ts',
  'test/e2e/intercept/env.test.ts',
  'test/e2e/intercept/personal.test.ts',
  'test/e2e/connect-errors.test.ts',
  'test/e2e/intercept/rbac.test.ts',
];

interface FileResult {
  file: string;
  code: number;
  seconds: number;
}

function runFile(file: string, env: NodeJS.ProcessEnv): Promise<FileResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(CHECKOUT, 'node_modules/ava/entrypoints/cli.mjs'), '--serial', file], {
      cwd: CHECKOUT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    const finish = (code: number): void => {
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(`\n── ${file} (${seconds.toFixed(1)} s${code === 0 ? '' : `, exit ${code}`})\n${Buffer.concat(output).toString()}`);
      resolve({ file, code, seconds });
    };
    child.on('error', () => finish(1));
    child.on('close', (code, signal) => finish(code ?? (signal ? 1 : 0)));
  });
}

async function runLanes(files: string[], lanes: number, env: NodeJS.ProcessEnv): Promise<FileResult[]> {
  const queue = [...files];
  const results: FileResult[] = [];
  const lane = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) results.push(await runFile(file, env));
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
  return results;
}

/** Runs the files (paths relative to the checkout); resolves with 0 when every file passed. */
export async function runE2eFiles(files: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const lanes = Number(process.env.TP_E2E_LANES ?? 2);
  if (!Number.isInteger(lanes) || lanes < 1) throw new Error(`TP_E2E_LANES must be a whole number ≥ 1, not ${process.env.TP_E2E_LANES}`);
  const rank = (file: string): number => (LONGEST_FIRST.includes(file) ? LONGEST_FIRST.indexOf(file) : LONGEST_FIRST.length);
  const alone = files.filter((file) => ALONE.some(([pattern]) => pattern.test(file)));
  const shared = files.filter((file) => !alone.includes(file)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  console.log(`${shared.length} files in ${lanes} lane(s), then ${alone.length} alone`);
  const results = [...(await runLanes(shared, lanes, env)), ...(await runLanes(alone, 1, env))];
  const failed = results.filter((result) => result.code !== 0);
  console.log('\nfile times (s):');
  for (const result of [...results].sort((a, b) => b.seconds - a.seconds)) console.log(`  ${result.seconds.toFixed(1).padStart(6)}  ${result.file}${result.code === 0 ? '' : '  FAILED'}`);
  if (failed.length > 0) console.log(`\n${failed.length} file(s) failed: ${failed.map((result) => result.file).join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

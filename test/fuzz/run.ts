// Runs the coverage-guided fuzzer (jsfuzz, see docs/fuzzing.md) on one target or all of them for
// a bounded time: `npm run fuzz -- <target|all> [seconds]`. Each target (targets/<name>.ts) is
// bundled into one CommonJS file, because jsfuzz instruments code through require() hooks only;
// the fuzzer then starts from the committed seeds in corpus/<name>/ and writes what it finds to a
// scratch directory (printed at the end, so an interesting input can be promoted to the corpus).
// A crash or a hang fails the run and prints the input as hex and as a file.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { formatCoverage, sourceCoverage, type SourceCoverage } from './coverage.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const jsfuzzBin = createRequire(import.meta.url).resolve('jsfuzz/build/src/index.js');

/** One input taking longer than this counts as a hang (jsfuzz checks every 3 s). */
const HANG_SECONDS = 10;
/** A worker past this much memory is killed and its input fails the run (inputs are at most 4 KiB). */
const RSS_LIMIT_MB = 1024;

const TARGETS = readdirSync(join(here, 'targets'))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => file.slice(0, -3))
  .sort();

interface FuzzResult {
  target: string;
  seconds: number;
  executions: number;
  execsPerSecond: number;
  coverage: number;
  corpusSize: number;
  crashed: boolean;
  /** Statements and branches of the parser's own files that the run reached. */
  parsers: SourceCoverage[];
  output: string;
  workDir: string;
}

/** Each source module keeps its own import.meta.url (version.ts reads package.json, dns2-wire.ts requires dns2 through it). */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};

async function bundle(target: string, workDir: string): Promise<string> {
  const entry = join(here, 'targets', `${target}.ts`);
  const outfile = join(workDir, `${target}.js`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
    sourcemap: true,
    plugins: [ownImportMetaUrl],
  });
  return outfile;
}

/** Fuzzes one target for `seconds`; resolves with its figures (crashed: true on a crash or hang). */
async function fuzzTarget(target: string, seconds: number): Promise<FuzzResult> {
  const workDir = mkdtempSync(join(tmpdir(), `tp-fuzz-${target}-`));
  const bundled = await bundle(target, workDir);
  const { covers, versifier } = (await import(`./targets/${target}.js`)) as { covers: string[]; versifier?: boolean };
  const found = join(workDir, 'found');
  mkdirSync(found);
  const seeds = join(here, 'corpus', target);
  const args = [jsfuzzBin, `./${target}.js`, found, ...(existsSync(seeds) ? [seeds] : [])];
  args.push('--timeout', String(HANG_SECONDS), '--rss-limit-mb', String(RSS_LIMIT_MB), '--exact-artifact-path', join(workDir, 'crash'));
  // A target may turn off jsfuzz's versifier (`export const versifier = false`), see http-framing.ts.
  if (versifier === false) args.push('--no-versifier');
  // Its own process group, so the stop signal reaches jsfuzz's worker too.
  const child = spawn(process.execPath, args, { cwd: workDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = Date.now();
  // SIGINT makes the worker stop after its current input; jsfuzz's parent then exits by itself.
  const stop = setTimeout(() => signalGroup(child.pid, 'SIGINT'), seconds * 1000);
  const kill = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), (seconds + HANG_SECONDS + 10) * 1000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(stop);
  clearTimeout(kill);
  const elapsed = (Date.now() - started) / 1000;
  // jsfuzz prints its figures on each new input and every 3 s; the last line is the closest to the end.
  const stats = [...output.matchAll(/^#(\d+) \w+\s+cov: (\d+) corp: (\d+)/gm)].at(-1);
  const executions = stats ? Number(stats[1]) : 0;
  // A target that fails to load makes jsfuzz's worker exit before its first run, and jsfuzz exit 0.
  const crashed = code !== 0 || executions === 0 || /crash was written/.test(output);
  return {
    target,
    seconds: elapsed,
    executions,
    execsPerSecond: Math.round(executions / elapsed),
    coverage: stats ? Number(stats[2]) : 0,
    corpusSize: stats ? Number(stats[3]) : 0,
    crashed,
    parsers: sourceCoverage(workDir, bundled, repoRoot).filter((entry) => covers.includes(entry.file)),
    output,
    workDir,
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function report(result: FuzzResult, kept: boolean): void {
  const figures = `${result.executions} runs in ${result.seconds.toFixed(0)} s (${result.execsPerSecond}/s), counters ${result.coverage}, corpus ${result.corpusSize}`;
  if (!result.crashed) {
    console.log(`ok   ${result.target}: ${figures}`);
    for (const entry of result.parsers) console.log(`     ${formatCoverage(entry)}`);
    if (kept) console.log(`     inputs it found: ${join(result.workDir, 'found')}`);
    return;
  }
  console.log(`FAIL ${result.target}: ${figures}`);
  console.log(result.output.split('\n').slice(-40).join('\n'));
  console.log(`The failing input is ${join(result.workDir, 'crash')}; add it to test/fuzz/corpus/${result.target}/ and fix the parser.`);
}

async function main(argv: string[]): Promise<number> {
  const [which, secondsText = '60'] = argv;
  const seconds = Number(secondsText);
  if (!which || (which !== 'all' && !TARGETS.includes(which)) || !Number.isFinite(seconds) || seconds <= 0) {
    console.error(`usage: npm run fuzz -- <target|all> [seconds]\ntargets: ${TARGETS.join(', ')}`);
    return 2;
  }
  const targets = which === 'all' ? TARGETS : [which];
  let failed = 0;
  // One at a time: the fuzzer takes a core, and the machine has two.
  for (const target of targets) {
    const result = await fuzzTarget(target, seconds);
    // `all` is the test suite's short run: only a failure's scratch directory is worth keeping.
    const keep = result.crashed || which !== 'all';
    report(result, keep);
    if (result.crashed) failed += 1;
    if (!keep) rmSync(result.workDir, { recursive: true, force: true });
  }
  console.log(`fuzz: ${targets.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}

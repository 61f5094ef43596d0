// Intercepted bulk on loopback, tp's processes only: a client connection's bytes go
//   client → agent (raw-forwarder) → manager (splice of two tunnel streams) → daemon
//   (local-forwarder) → echo
// and back, each tp role a process of its own (intercept-local-role.ts) with its tunnels over
// ws:// on loopback, next to the same chain of plain socat relays (the floor of three relaying
// processes on this machine). No Kubernetes, port-forward or TLS: bench:intercept measures the
// real path; this isolates the CPU tp's own code spends per byte, for quick A/B runs. Reports per
// path the median echo rate and the CPU each role spent per echo (every thread's run time from
// /proc/<pid>/task/*/schedstat, in ns, taken once every byte came back and before the connection
// closes). Not a test: nothing asserts speed.
// Env: BENCH_BULK_MIB (64), BENCH_ROUNDS (5; the paths alternate within a round, after one
// unmeasured echo each), BENCH_BASE_DIR (another checkout, e.g. a `git archive` of main with a
// node_modules link: its code runs as the path 'tp base'), BENCH_ONLY (paths, comma-separated:
// tp, tp base, relays), BENCH_PROFILE_DIR (node --cpu-prof of each tp role process), BENCH_PERF_DIR
// (`perf record -g` of each tp role process during the measured rounds, with --perf-basic-prof),
// BENCH_NODE_ARGS (more node flags for the tp role processes, e.g. --trace-gc, or `--import tsx
// --import <abs path>/bench/intercept-copy-count.ts` to count copied bytes; BENCH_BASE_NODE_ARGS
// for 'tp base' only), BENCH_MAX_DATA_FRAME (the sessions' maxDataFrame, the largest DATA payload
// sent; BENCH_BASE_MAX_DATA_FRAME for 'tp base' only).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from './free-port.js';
import { perfRecord } from './perf-record.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BULK_BYTES = Number(process.env.BENCH_BULK_MIB ?? 64) * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BASE_DIR = process.env.BENCH_BASE_DIR ? path.resolve(process.env.BENCH_BASE_DIR) : undefined;
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const PERF_DIR = process.env.BENCH_PERF_DIR;
const CHUNK = Buffer.alloc(64 * 1024, 7);
const children: ChildProcess[] = [];

interface Path {
  name: string;
  /** The tp role processes (pid by role), for perf. */
  roles?: Map<string, number>;
  /** Starts whatever this echo needs (once, or per echo); returns where to connect and whose CPU counts. */
  prepare(): Promise<{ port: number; roles: Map<string, number>; done?: () => Promise<void> }>;
}

interface Echo {
  mibPerS: number;
  /** CPU ms by role. */
  cpuMs: Record<string, number>;
}

function spawnRole(name: string, args: string[]): ChildProcess {
  const profile = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, name.replaceAll(' ', '-'))] : PERF_DIR ? ['--perf-basic-prof'] : [];
  const flags = name.startsWith('tp base') ? (process.env.BENCH_BASE_NODE_ARGS ?? process.env.BENCH_NODE_ARGS) : process.env.BENCH_NODE_ARGS;
  const extra = flags?.split(' ').filter(Boolean) ?? [];
  const maxDataFrame = name.startsWith('tp base') ? (process.env.BENCH_BASE_MAX_DATA_FRAME ?? process.env.BENCH_MAX_DATA_FRAME) : process.env.BENCH_MAX_DATA_FRAME;
  const env = { ...process.env, BENCH_ROLE_MAX_DATA_FRAME: maxDataFrame ?? '' };
  const child = spawn(process.execPath, [...profile, ...extra, '--import', 'tsx', path.join(here, 'intercept-local-role.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.push(child);
  return child;
}

/** The first JSON line `child` prints; its other lines (--trace-gc's) go to stderr with its name. */
function jsonLine<T>(child: ChildProcess, name: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    let found = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        if (!found && line.startsWith('{')) {
          found = true;
          resolve(JSON.parse(line) as T);
        } else process.stderr.write(`[${name}] ${line}\n`);
      }
    });
    child.once('exit', (code) => reject(new Error(`${child.spawnargs.join(' ')} exited with ${code}`)));
  });
}

/** The three tp processes of `root`, joined once; every echo is a new intercepted connection. */
async function tpPath(name: string, root: string, echoPort: number): Promise<Path> {
  const manager = spawnRole(`${name} manager`, ['manager', root]);
  const { url } = await jsonLine<{ url: string }>(manager, `${name} manager`);
  const daemon = spawnRole(`${name} daemon`, ['daemon', root, url, String(echoPort)]);
  await jsonLine(daemon, `${name} daemon`);
  const agent = spawnRole(`${name} agent`, ['agent', root, url]);
  const { port } = await jsonLine<{ port: number }>(agent, `${name} agent`);
  const roles = new Map([['agent', agent.pid!], ['manager', manager.pid!], ['daemon', daemon.pid!]]);
  return { name, roles, prepare: async () => ({ port, roles }) };
}

/** perf record of each tp role process until the returned function stops them. */
function perfRecordRoles(paths: Path[]): () => Promise<void> {
  if (!PERF_DIR) return async () => undefined;
  mkdirSync(PERF_DIR, { recursive: true });
  const records = paths.flatMap((p) => [...(p.roles ?? [])].map(([role, pid]) => perfRecord(pid, path.join(PERF_DIR, `${p.name.replaceAll(' ', '-')}-${role}.data`), 1999)));
  return async () => {
    await Promise.all(records.map((record) => record.stop()));
  };
}

/** socat relays in the same three places, started for each echo (a socat without fork serves one connection). */
function relayPath(echoPort: number): Path {
  return {
    name: 'relays',
    prepare: async () => {
      const ports = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
      const hops = [['agent', ports[0], ports[1]], ['manager', ports[1], ports[2]], ['daemon', ports[2], echoPort]] as const;
      const started = hops.map(([role, listen, to]) => {
        const child = spawn('socat', ['-b', '65536', `TCP-LISTEN:${listen},bind=127.0.0.1,reuseaddr`, `TCP:127.0.0.1:${to},nodelay`], { stdio: 'ignore' });
        return [role, child] as const;
      });
      for (const port of ports) await waitForPort(port);
      const roles = new Map(started.map(([role, child]) => [role, child.pid!]));
      const done = async (): Promise<void> => {
        for (const [, child] of started) if (child.exitCode === null) child.kill();
      };
      return { port: ports[0], roles, done };
    },
  };
}

/** A relay in the chain is ready once it listens (a probe connection would use up a single-use socat). */
async function waitForPort(port: number): Promise<void> {
  const entry = `:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
  for (let i = 0; i < 250; i++) {
    if (readFileSync('/proc/net/tcp', 'utf8').includes(entry)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`port ${port} did not open`);
}

/** Run time of every thread of `pid` so far, in ns. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended in between.
    }
  }
  return total;
}

/** One echo of BULK_BYTES through `target`, the roles' CPU taken once every byte is back. */
async function echo(target: Path): Promise<Echo> {
  const { port, roles, done } = await target.prepare();
  const before = new Map([...roles].map(([role, pid]) => [role, cpuNs(pid)]));
  const start = process.hrtime.bigint();
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let got = 0;
    socket.on('error', reject);
    const pump = (): void => {
      while (sent < BULK_BYTES) {
        sent += CHUNK.length;
        if (!socket.write(CHUNK)) return void socket.once('drain', pump);
      }
    };
    socket.once('connect', pump);
    socket.on('data', (data: Buffer) => {
      got += data.length;
      if (got >= BULK_BYTES) resolve();
    });
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuMs = Object.fromEntries([...roles].map(([role, pid]) => [role, (cpuNs(pid) - before.get(role)!) / 1e6]));
  socket.destroy();
  await done?.();
  return { mibPerS: BULK_BYTES / 1048576 / seconds, cpuMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const echoServer = net.createServer((socket) => socket.on('error', () => socket.destroy()).pipe(socket));
await new Promise<void>((resolve) => echoServer.listen(0, '127.0.0.1', resolve));
const echoPort = (echoServer.address() as net.AddressInfo).port;
try {
  const wanted = (name: string): boolean => !ONLY || ONLY.includes(name);
  const paths: Path[] = [];
  if (wanted('tp')) paths.push(await tpPath('tp', path.resolve(here, '..'), echoPort));
  if (BASE_DIR && wanted('tp base')) paths.push(await tpPath('tp base', BASE_DIR, echoPort));
  if (wanted('relays')) paths.push(relayPath(echoPort));
  for (const p of paths) await echo(p);
  const runs = new Map<string, Echo[]>(paths.map((p) => [p.name, []]));
  const loadBefore = loadavg()[0];
  const stopPerf = perfRecordRoles(paths);
  for (let round = 0; round < ROUNDS; round++) for (const p of paths) runs.get(p.name)!.push(await echo(p));
  await stopPerf();
  const loadAfter = loadavg()[0];
  console.log(`${BULK_BYTES / 1048576} MiB echoed, median of ${ROUNDS} rounds; load average ${loadBefore.toFixed(1)}-${loadAfter.toFixed(1)}`);
  console.log('path        MiB/s   CPU ms per echo: agent  manager  daemon   total');
  const summary: Record<string, { mibPerS: number; cpuMs: Record<string, number> }> = {};
  for (const [name, echoes] of runs) {
    const cpuMs = Object.fromEntries(['agent', 'manager', 'daemon'].map((role) => [role, median(echoes.map((e) => e.cpuMs[role]))]));
    const total = median(echoes.map((e) => e.cpuMs.agent + e.cpuMs.manager + e.cpuMs.daemon));
    summary[name] = { mibPerS: median(echoes.map((e) => e.mibPerS)), cpuMs: { ...cpuMs, total } };
    console.log(`${name.padEnd(10)} ${summary[name].mibPerS.toFixed(0).padStart(6)}   ${' '.repeat(16)}${cpuMs.agent.toFixed(0).padStart(6)} ${cpuMs.manager.toFixed(0).padStart(8)} ${cpuMs.daemon.toFixed(0).padStart(7)} ${total.toFixed(0).padStart(7)}`);
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const file = path.join(here, 'results', `intercept-local-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ bulkBytes: BULK_BYTES, rounds: ROUNDS, load: [loadBefore, loadAfter], summary, runs: Object.fromEntries(runs) }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
} finally {
  echoServer.close();
  for (const child of children) child.kill('SIGTERM');
}

// `npm run bench:tunnel`: compares, in one run on loopback, a direct TCP connection, OpenSSH's
// `ssh -L` (a temporary sshd with its own keys) and tp's tunnel over ws:// and wss:// (a local
// forwarder process talking to a tunnel server process, the same shape as ssh -L). Every piece
// is a separate process: target (bulk source and echo), load generator, tunnel ends. Measures
// bulk download (1 stream and 8 streams), 64-byte round trips/s, and opens/s (open, 1 KiB
// echo, close). Prints a table and writes JSON under bench/results/. Not a test: nothing here
// asserts speed. Env: BENCH_BULK_BYTES (default 1 GiB), BENCH_DURATION_MS (3000),
// BENCH_TP_SESSIONS (1), BENCH_OPEN_CONCURRENCY (8), BENCH_ROUNDS (3, medians shown), BENCH_ONLY (paths, comma-separated),
// BENCH_WORKLOADS (bulk1,bulk8,rr,opens), BENCH_PROFILE_DIR (CPU profiles of the tunnel processes),
// BENCH_BASE_DIR (another checkout, e.g. `git archive` of the commit before a change, with a
// node_modules link: its tunnel ends run as the path 'tp base', in the same rounds as 'tp ws').
// Info rows 'node pipe' and 'node mux' are the Node floor (bench/tunnel-floor.ts): what the
// cheapest Node forwarding costs on this machine, one process and two joined by framed TCP.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { firstJsonLine } from './child-json.js';
import { freeLoopbackPort } from './free-port.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BULK_BYTES = Number(process.env.BENCH_BULK_BYTES ?? 1024 ** 3);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const TP_SESSIONS = Number(process.env.BENCH_TP_SESSIONS ?? 1);
const OPEN_CONCURRENCY = Number(process.env.BENCH_OPEN_CONCURRENCY ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const children: ChildProcess[] = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tp-bench-'));

const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

/** Another checkout's bench/ (BENCH_BASE_DIR): its tunnel ends run as the path 'tp base', interleaved with this one's. */
const BASE_BENCH = process.env.BENCH_BASE_DIR ? path.join(path.resolve(process.env.BENCH_BASE_DIR), 'bench') : undefined;

function node(script: string, args: string[], dir = here): ChildProcess {
  // BENCH_PROFILE_DIR=<dir> writes a CPU profile of each tunnel process (node --cpu-prof).
  const profile = PROFILE_DIR && script.startsWith('tunnel-') ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, dir === here ? script : `base-${script}`)] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.join(dir, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}


async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The processes that make up each path's tunnel (their descendants count too). */
const tunnelPids = new Map<string, number[]>();

async function startSshForward(targetPort: number): Promise<number> {
  if (!existsSync('/usr/sbin/sshd') || !existsSync('/usr/bin/ssh')) {
    console.error('installing openssh-server and openssh-client with apt-get…');
    execFileSync('apt-get', ['install', '-y', '-qq', 'openssh-server', 'openssh-client'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  mkdirSync('/run/sshd', { recursive: true });
  const dir = path.join(tmp, 'ssh');
  mkdirSync(dir, { mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'client_key')]);
  copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  const sshPort = await freeLoopbackPort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'MaxStartups 100',
      '',
    ].join('\n'),
  );
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: 'ignore' });
  children.push(sshd);
  await waitForPort(sshPort);
  const localPort = await freeLoopbackPort();
  children.push(
    spawn(
      'ssh',
      ['-N', '-L', `127.0.0.1:${localPort}:127.0.0.1:${targetPort}`, '-i', path.join(dir, 'client_key'), '-p', String(sshPort),
        '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes',
        '-o', 'LogLevel=ERROR', `${os.userInfo().username}@127.0.0.1`],
      { stdio: 'ignore' },
    ),
  );
  await waitForPort(localPort);
  tunnelPids.set('ssh -L', [sshd.pid!, children[children.length - 1].pid!]);
  return localPort;
}

async function startTp(targetPort: number, tls: boolean, dir = here): Promise<number> {
  const token = randomBytes(24).toString('base64url');
  const args = [token];
  let ca: string | undefined;
  if (tls) {
    const cert = path.join(tmp, 'cert.pem');
    const key = path.join(tmp, 'key.pem');
    if (!existsSync(cert)) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    }
    args.push(cert, key);
    ca = cert;
  }
  const server = node('tunnel-server.ts', args, dir);
  const { url } = await firstJsonLine<{ url: string }>(server);
  const forwarderArgs = [url, token, String(targetPort), String(TP_SESSIONS)];
  if (ca) forwarderArgs.push(ca);
  const forwarder = node('tunnel-forwarder.ts', forwarderArgs, dir);
  const { port } = await firstJsonLine<{ port: number }>(forwarder);
  tunnelPids.set(dir !== here ? 'tp base' : tls ? 'tp wss' : 'tp ws', [server.pid!, forwarder.pid!]);
  return port;
}

/** The Node floor (bench/tunnel-floor.ts, not tp): 'node mux' is two processes joined by one
 *  framed TCP connection (tp's shape), 'node pipe' one process that accepts, connects and pipes. */
async function startFloor(targetPort: number, mux: boolean): Promise<number> {
  if (!mux) {
    const pipe = node('tunnel-floor.ts', ['pipe', String(targetPort)]);
    const { port } = await firstJsonLine<{ port: number }>(pipe);
    tunnelPids.set('node pipe', [pipe.pid!]);
    return port;
  }
  const exit = node('tunnel-floor.ts', ['exit', String(targetPort)]);
  const { port: exitPort } = await firstJsonLine<{ port: number }>(exit);
  const entry = node('tunnel-floor.ts', ['entry', String(exitPort)]);
  const { port } = await firstJsonLine<{ port: number }>(entry);
  tunnelPids.set('node mux', [exit.pid!, entry.pid!]);
  return port;
}

async function load<T>(args: string[]): Promise<T> {
  const child = node('tunnel-load.ts', args);
  const result = await firstJsonLine<T>(child);
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  return result;
}

/** CPU seconds (user + system) used so far by `pids` and all their descendants (Linux /proc). */
function cpuSeconds(pids: number[], only?: 'user' | 'system'): number {
  const ticksPerSecond = 100;
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (pid: number): void => {
    if (seen.has(pid)) return;
    seen.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += (only === 'system' ? 0 : Number(fields[11])) + (only === 'user' ? 0 : Number(fields[12]));
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(child));
      }
    } catch {
      // The process ended; its time is gone with it.
    }
  };
  for (const pid of pids) visit(pid);
  return ticks / ticksPerSecond;
}

interface Row {
  path: string;
  bulk1MBps: number;
  bulk8MBps: number;
  roundTripsPerSecond: number;
  opensPerSecond: number;
  /** Tunnel CPU (both ends) per unit of work: ms per GB moved, µs per round trip, ms per open. */
  cpuMsPerGB1: number;
  cpuMsPerGB8: number;
  cpuUsPerRoundTrip: number;
  cpuMsPerOpen: number;
  /** The kernel's part of cpuMsPerOpen (system time: syscalls, loopback delivery). */
  systemMsPerOpen: number;
}

const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'bulk1,bulk8,rr,opens').split(',');

async function measure(name: string, port: number): Promise<Row> {
  const none = { bytesPerSecond: NaN, perSecond: NaN, bytes: NaN, roundTrips: NaN, opens: NaN, cpu: NaN, system: NaN };
  const pids = tunnelPids.get(name) ?? [];
  const run = async <T>(workload: string, args: string[]): Promise<T & { cpu: number; system: number }> => {
    if (!WORKLOADS.includes(workload)) return none as unknown as T & { cpu: number; system: number };
    const before = cpuSeconds(pids);
    const systemBefore = cpuSeconds(pids, 'system');
    const result = await load<T>(args);
    return { ...result, cpu: cpuSeconds(pids) - before, system: cpuSeconds(pids, 'system') - systemBefore };
  };
  const bulk1 = await run<{ bytesPerSecond: number; bytes: number }>('bulk1', ['bulk', String(port), String(BULK_BYTES), '1']);
  const bulk8 = await run<{ bytesPerSecond: number; bytes: number }>('bulk8', ['bulk', String(port), String(BULK_BYTES), '8']);
  const rr = await run<{ perSecond: number; roundTrips: number }>('rr', ['rr', String(port), String(DURATION_MS)]);
  const opens = await run<{ perSecond: number; opens: number }>('opens', ['opens', String(port), String(DURATION_MS), String(OPEN_CONCURRENCY)]);
  const row = {
    path: name,
    bulk1MBps: bulk1.bytesPerSecond / 1e6,
    bulk8MBps: bulk8.bytesPerSecond / 1e6,
    roundTripsPerSecond: rr.perSecond,
    opensPerSecond: opens.perSecond,
    cpuMsPerGB1: (bulk1.cpu * 1000) / (bulk1.bytes / 1e9),
    cpuMsPerGB8: (bulk8.cpu * 1000) / (bulk8.bytes / 1e9),
    cpuUsPerRoundTrip: (rr.cpu * 1e6) / rr.roundTrips,
    cpuMsPerOpen: (opens.cpu * 1000) / opens.opens,
    systemMsPerOpen: (opens.system * 1000) / opens.opens,
  };
  return row;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function medianRow(rows: Row[]): Row {
  return {
    path: rows[0].path,
    bulk1MBps: median(rows.map((r) => r.bulk1MBps)),
    bulk8MBps: median(rows.map((r) => r.bulk8MBps)),
    roundTripsPerSecond: median(rows.map((r) => r.roundTripsPerSecond)),
    opensPerSecond: median(rows.map((r) => r.opensPerSecond)),
    cpuMsPerGB1: median(rows.map((r) => r.cpuMsPerGB1)),
    cpuMsPerGB8: median(rows.map((r) => r.cpuMsPerGB8)),
    cpuUsPerRoundTrip: median(rows.map((r) => r.cpuUsPerRoundTrip)),
    cpuMsPerOpen: median(rows.map((r) => r.cpuMsPerOpen)),
    systemMsPerOpen: median(rows.map((r) => r.systemMsPerOpen)),
  };
}

function table(rows: Row[]): string {
  const ssh = rows.find((row) => row.path === 'ssh -L');
  const fmt = (value: number, base: number | undefined): string => `${value.toFixed(0)}${base ? ` (${(value / base).toFixed(2)}x)` : ''}`.padStart(18);
  const lines = [`${'path'.padEnd(10)}${'bulk 1 MB/s'.padStart(18)}${'bulk 8 MB/s'.padStart(18)}${'round trips/s'.padStart(18)}${'opens/s'.padStart(18)}`];
  for (const row of rows) {
    const base = row.path === 'ssh -L' || row.path === 'direct' ? undefined : ssh;
    lines.push(
      `${row.path.padEnd(10)}${fmt(row.bulk1MBps, base?.bulk1MBps)}${fmt(row.bulk8MBps, base?.bulk8MBps)}${fmt(row.roundTripsPerSecond, base?.roundTripsPerSecond)}${fmt(row.opensPerSecond, base?.opensPerSecond)}`,
    );
  }
  lines.push('', 'tunnel CPU (both ends, user+system) per unit of work:');
  lines.push(`${'path'.padEnd(10)}${'ms/GB bulk 1'.padStart(18)}${'ms/GB bulk 8'.padStart(18)}${'µs/round trip'.padStart(18)}${'ms/open'.padStart(18)}${'of it system'.padStart(14)}`);
  for (const row of rows) {
    if (row.path === 'direct') continue;
    const base = row.path === 'ssh -L' ? undefined : ssh;
    const cpu = (value: number, digits: number, sshValue: number | undefined): string => `${value.toFixed(digits)}${sshValue ? ` (${(value / sshValue).toFixed(2)}x)` : ''}`.padStart(18);
    lines.push(`${row.path.padEnd(10)}${cpu(row.cpuMsPerGB1, 0, base?.cpuMsPerGB1)}${cpu(row.cpuMsPerGB8, 0, base?.cpuMsPerGB8)}${cpu(row.cpuUsPerRoundTrip, 1, base?.cpuUsPerRoundTrip)}${cpu(row.cpuMsPerOpen, 3, base?.cpuMsPerOpen)}${row.systemMsPerOpen.toFixed(3).padStart(14)}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { port: targetPort } = await firstJsonLine<{ port: number }>(node('tunnel-target.ts', []));
  const paths: Array<[string, () => Promise<number>]> = [
    ['direct', async () => targetPort],
    ['ssh -L', () => startSshForward(targetPort)],
    ['node pipe', () => startFloor(targetPort, false)],
    ['node mux', () => startFloor(targetPort, true)],
    ['tp ws', () => startTp(targetPort, false)],
    ...(BASE_BENCH ? [['tp base', () => startTp(targetPort, false, BASE_BENCH)] as [string, () => Promise<number>]] : []),
    ['tp wss', () => startTp(targetPort, true)],
  ];
  const only = process.env.BENCH_ONLY?.split(',');
  const ports = new Map<string, number>();
  for (const [name, start] of paths) if (!only || only.includes(name)) ports.set(name, await start());
  // Rounds interleave the paths so that load from other processes on the machine hits them alike;
  // the table shows each path's median.
  const samples = new Map<string, Row[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, port] of ports) {
      const row = await measure(name, port);
      samples.set(name, [...(samples.get(name) ?? []), row]);
      console.error(`round ${round}/${ROUNDS} ${name}: ${JSON.stringify(row)}`);
    }
  }
  const rows = [...samples.values()].map(medianRow);
  const output = table(rows);
  console.log(output);
  const resultsDir = path.join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `tunnel-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const meta = { rounds: ROUNDS, date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg(), bulkBytes: BULK_BYTES, durationMs: DURATION_MS, tpSessions: TP_SESSIONS, openConcurrency: OPEN_CONCURRENCY };
  writeFileSync(file, JSON.stringify({ ...meta, rounds: ROUNDS, rows, samples: Object.fromEntries(samples) }, null, 2) + '\n');
  console.log(`results: ${path.relative(process.cwd(), file)}`);
}

function cleanup(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}

main().then(
  () => {
    cleanup();
  },
  (error: Error) => {
    console.error(error);
    cleanup();
    process.exitCode = 1;
  },
);

// `npx tsx bench/outbound-local.ts`: the laptop's front doors alone, on loopback, for quick
// iteration on their per-request cost without a cluster. Three processes: an HTTP server (the
// destination), tp's tunnel server dialling it (bench/tunnel-server.ts, the manager's shape) and
// this process with tp's HTTP proxy and SOCKS5 door whose Dial opens tunnel streams (the daemon's
// shape). wrk measures keep-alive requests/s and new connections/s through each door (proxychains4
// for SOCKS5), and the tunnel processes' CPU per request. Not a test: nothing asserts speed.
// Env: BENCH_DURATION_S (3), BENCH_CONNECTIONS (16), BENCH_PROFILE_DIR (CPU profile of this
// process, written at exit), BENCH_DOORS (http,socks), BENCH_KINDS (keep-alive,new,shared:
// small requests' p99 via SOCKS5 while a download shares the tunnel, against alone), BENCH_ROUNDS
// (1; with both doors, the median HTTP/SOCKS5 ratio of the rounds), BENCH_WARMUP_S (1: each door
// runs that long unmeasured first, so that the JIT's first compiles, in all three processes, are
// not charged to whichever door is measured first). The shared measurement also gives the
// download's rate while the requests ran (bytes the tunnel delivered meanwhile) and, with
// BENCH_SCHED=1, per process (doors, tunnel server, destination, wrk, curl) the ms per second its
// main thread ran on a CPU and waited runnable for one (/proc/<pid>/schedstat) and the doors'
// event-loop delay; with BENCH_HOPS=1 each request's time inside the tunnel (request into the
// stream to answer out of it) and outside it; BENCH_BULK_LIMIT (curl's --limit-rate, e.g. 25M)
// caps the download from its client. The line of each run also gives wrk's, the
// destination's and the whole machine's CPU per request, and each process's read and write
// syscalls per request (/proc/<pid>/io).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session as InspectorSession } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HttpProxyServer } from '../src/proxy/http-proxy.js';
import { SocksServer } from '../src/proxy/socks-server.js';
import type { RouteDecision } from '../src/proxy/routing.js';
import { connectTunnel, SessionPool, type TunnelStream } from '../src/tunnel/index.js';
import { firstJsonLine } from './child-json.js';
import { parseWrk } from './outbound-measure.js';
import { startDelayRelay } from './delay-relay.js';
import { summarize, type CpuProfile } from './outbound-profile.js';
import { machineBusyTicks } from './outbound-cpu.js';

const run = promisify(execFile);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 1);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DOORS = (process.env.BENCH_DOORS ?? 'http,socks').split(',');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const KINDS = (process.env.BENCH_KINDS ?? 'keep-alive,new').split(',');
const WRK_PROXY_SCRIPT = fileURLToPath(new URL('fixtures/wrk-absolute-uri.lua', import.meta.url));
const children: ChildProcess[] = [];

function cpuSeconds(pid: number, only?: 'user'): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + (only === 'user' ? 0 : Number(fields[12]))) / 100;
}

/** read-family and write-family syscalls a process made so far (/proc/<pid>/io). */
function syscalls(pid: number): [number, number] {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return [Number(/syscr: (\d+)/.exec(io)![1]), Number(/syscw: (\d+)/.exec(io)![1])];
}

/** CPU seconds of this process's reaped children (wrk, once it exited). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function main(): Promise<void> {
  // The destination: a small HTTP server in its own process.
  const target = spawn(process.execPath, ['-e', `
    const body = Buffer.alloc(100, 0x61);
    const filler = Buffer.alloc(256 * 1024, 0x5a);
    const s = require('http').createServer((q, r) => {
      if (!q.url.startsWith('/bytes/')) { r.writeHead(200, {'content-length': body.length}); r.end(body); return; }
      let left = Number(q.url.slice(7));
      r.writeHead(200, {'content-length': left});
      const more = () => { while (left > 0) { const n = Math.min(left, filler.length); left -= n; if (!r.write(n === filler.length ? filler : filler.subarray(0, n))) return void r.once('drain', more); } r.end(); };
      more();
    });
    s.keepAliveTimeout = 60000;
    s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: s.address().port })));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(target);
  const { port: targetPort } = await firstJsonLine<{ port: number }>(target);
  const server = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('tunnel-server.ts', import.meta.url)), 'bench-token'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  const { url } = await firstJsonLine<{ url: string }>(server);
  // BENCH_DELAY_MS: a one-way delay between the two tunnel ends (bench/delay-relay.ts), as a port-forward adds;
  // BENCH_LINK_MBPS: that hop is also a bottleneck of this rate each way, shared by the tunnel's connections.
  let tunnelUrl = url;
  if (process.env.BENCH_DELAY_MS || process.env.BENCH_LINK_MBPS) {
    const server = new URL(url);
    const mbps = process.env.BENCH_LINK_MBPS ? Number(process.env.BENCH_LINK_MBPS) : undefined;
    const relay = await startDelayRelay(Number(process.env.BENCH_DELAY_MS ?? 0), { host: server.hostname, port: Number(server.port) }, mbps);
    server.port = String(relay.port);
    tunnelUrl = server.toString();
  }
  const pool = new SessionPool({ size: 2, connect: () => connectTunnel(tunnelUrl, { token: 'bench-token' }) });
  await pool.start();
  let opens = 0;
  const dial = (t: { host: string; port: number }) => (opens++, pool.open({ host: t.host, port: t.port }).then(timeHops));
  const route = (): RouteDecision => ({ via: 'cluster', reason: 'bench', clusterHost: '127.0.0.1' });
  const http = new HttpProxyServer({ dial, route });
  const socks = new SocksServer({ dial, route });
  const httpAddress = await http.listen();
  const socksAddress = await socks.listen();
  const work = mkdtempSync(join(tmpdir(), 'tp-bench-local-'));
  const conf = join(work, 'proxychains.conf');
  writeFileSync(conf, `strict_chain\nquiet_mode\n[ProxyList]\nsocks5 127.0.0.1 ${socksAddress.port}\n`);
  const profiler = process.env.BENCH_PROFILE_DIR ? new InspectorSession() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const url0 = `http://127.0.0.1:${targetPort}/small`;
  const pids = [process.pid, server.pid!];
  const wrkArgv = (door: string, keepAlive: boolean, seconds: number): string[] => {
    const common = ['-t', String(Math.min(CONNECTIONS, 4)), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', ...(keepAlive ? [] : ['-H', 'Connection: close'])];
    return door === 'http'
      ? ['wrk', ...common, '-s', WRK_PROXY_SCRIPT, `http://127.0.0.1:${httpAddress.port}/`]
      : ['proxychains4', '-q', '-f', conf, 'wrk', ...common.map((a, i) => (i === 1 ? String(CONNECTIONS) : a)), url0];
  };
  const wrkEnv = { ...process.env, BENCH_URL: url0 };
  for (const door of WARMUP_S > 0 ? DOORS : []) {
    const [command, ...args] = wrkArgv(door, true, WARMUP_S);
    await run(command, args, { env: wrkEnv, maxBuffer: 1 << 20 });
  }
  const measure = async (door: string, keepAlive: boolean): Promise<number> => {
    const argv = wrkArgv(door, keepAlive, DURATION_S);
    const before = pids.map((pid) => cpuSeconds(pid));
    const others = (): number[] => [childrenCpuSeconds(), cpuSeconds(target.pid!), machineBusyTicks() / 100, cpuSeconds(process.pid, 'user')];
    const beforeOthers = others();
    const ioPids = [process.pid, server.pid!, target.pid!];
    const ioBefore = ioPids.map(syscalls);
    opens = 0;
    const { stdout } = await run(argv[0], argv.slice(1), { env: wrkEnv, maxBuffer: 1 << 20 });
    const each = pids.map((pid, i) => cpuSeconds(pid) - before[i]);
    const [client, destination, machine, doorsUser] = others().map((v, i) => v - beforeOthers[i]);
    const ioAfter = ioPids.map(syscalls);
    const cpu = each.reduce((sum, v) => sum + v, 0);
    const r = parseWrk(stdout);
    const io = ioAfter.map((counts, i) => counts.map((n, j) => ((n - ioBefore[i][j]) / r.requests).toFixed(2)).join('/'));
    const syscallsNote = `; reads/writes per request: doors ${io[0]}, tunnel server ${io[1]}, destination ${io[2]}`;
    console.log(
      `${door.padEnd(6)} ${keepAlive ? 'keep-alive' : 'new conn  '} ${r.requestsPerSecond.toFixed(0).padStart(7)}/s  p50 ${r.latencyP50Ms?.toFixed(2)} ms  p99 ${r.latencyP99Ms?.toFixed(2)} ms  errors ${r.errors}  tunnel CPU ${((cpu * 1e6) / r.requests).toFixed(0)} µs/request (doors ${((each[0] * 1e6) / r.requests).toFixed(0)}, of it user ${((doorsUser * 1e6) / r.requests).toFixed(0)}; tunnel server ${((each[1] * 1e6) / r.requests).toFixed(0)})  ${opens} opens; wrk ${((client * 1e6) / r.requests).toFixed(0)}, destination ${((destination * 1e6) / r.requests).toFixed(0)}, machine ${((machine * 1e6) / r.requests).toFixed(0)} µs/request${syscallsNote}  load ${loadavg()[0].toFixed(2)}`,
    );
    return r.requestsPerSecond;
  };
  if (KINDS.includes('shared')) {
    hops.counting = true;
    await sharedP99(socksAddress.port, targetPort, conf, server, target);
    hops.counting = false;
  }
  for (const kind of KINDS.filter((k) => k !== 'shared')) {
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const rates: Record<string, number> = {};
      for (const door of DOORS) rates[door] = await measure(door, kind === 'keep-alive');
      if (rates.http && rates.socks) ratios.push(rates.http / rates.socks);
    }
    ratios.sort((a, b) => a - b);
    if (ratios.length > 0) console.log(`${kind}: HTTP proxy / SOCKS5 requests/s, median of ${ratios.length}: ${ratios[ratios.length >> 1].toFixed(2)}× (all: ${ratios.map((r) => r.toFixed(2)).join(' ')})`);
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    const file = join(process.env.BENCH_PROFILE_DIR!, `outbound-local-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const summary = summarize(profile as CpuProfile, 25);
    console.log(`profile: ${file}\n  by area: ${summary.byArea.map((a) => `${a.area} ${a.percent}%`).join(', ')}\n  by function:\n${summary.byFunction.map((f) => `    ${f.percent}% ${f.fn}`).join('\n')}`);
  }
  await http.destroy();
  await socks.destroy();
  pool.destroy();
}

/**
 * BENCH_HOPS=1: each small request's time split at the doors: from its bytes going into the
 * tunnel stream to the first bytes of the answer coming out of it ("inside": both tunnel ends,
 * the tunnel server's process, the destination) and from those to the next request's bytes
 * ("outside": the doors' write to the client, the client, the doors' read of the next request).
 */
const hops = { inside: [] as number[], outside: [] as number[], on: false, bytes: 0, counting: false };
function timeHops(stream: TunnelStream): TunnelStream {
  // Only streams opened for the shared measurement carry listeners (they add work per chunk and
  // set the stream flowing before the door's relay does): the other kinds measure the path bare.
  if (!hops.counting) return stream;
  // The bytes every stream delivers while a measurement runs: the download's rate while it shares.
  stream.on('data', (chunk: Buffer) => {
    if (hops.on) hops.bytes += chunk.length;
  });
  if (process.env.BENCH_HOPS !== '1') return stream;
  let sentAt = 0;
  let answeredAt = 0;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((...args: unknown[]) => {
    const now = performance.now();
    if (hops.on && answeredAt > 0 && sentAt === 0) hops.outside.push(now - answeredAt);
    if (sentAt === 0) sentAt = now;
    return write(...args);
  }) as typeof stream.write;
  stream.on('data', () => {
    if (sentAt === 0) return;
    const now = performance.now();
    if (hops.on) hops.inside.push(now - sentAt);
    sentAt = 0;
    answeredAt = now;
  });
  return stream;
}

function hopsNote(): string {
  const pct = (values: number[], p: number): string => ([...values].sort((a, b) => a - b)[Math.floor((values.length - 1) * p)] ?? NaN).toFixed(2);
  const note = `inside the tunnel p50/p99 ${pct(hops.inside, 0.5)}/${pct(hops.inside, 0.99)} ms, outside ${pct(hops.outside, 0.5)}/${pct(hops.outside, 0.99)} ms (${hops.inside.length} answers)`;
  hops.inside = [];
  hops.outside = [];
  return note;
}

/** A process's main thread (its event loop) so far: ns on a CPU, ns waiting runnable for one, and times it was put on one (/proc/<pid>/schedstat). */
function schedstat(pid: number | undefined): [number, number, number] {
  try {
    return readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number) as [number, number, number];
  } catch {
    return [0, 0, 0]; // gone already
  }
}

/** "name ran/waited ms per s (mean wait per run)" per process between two schedstat snapshots. */
function schedNote(names: string[], before: Array<[number, number, number]>, after: Array<[number, number, number]>, seconds: number): string {
  return names
    .map((name, i) => {
      const [ran, waited, runs] = after[i].map((v, j) => v - before[i][j]);
      return `${name} ${(ran / 1e6 / seconds).toFixed(0)}/${(waited / 1e6 / seconds).toFixed(0)} (${runs > 0 ? (waited / runs / 1e6).toFixed(2) : '-'})`;
    })
    .join(', ');
}

/** Small keep-alive requests' p99 through SOCKS5 alone, then while a download shares the tunnel (rounds interleaved). */
async function sharedP99(socksPort: number, targetPort: number, conf: string, server: ChildProcess, target: ChildProcess): Promise<void> {
  const wrk = ['wrk', '-t', '4', '-c', '4', '-d', `${DURATION_S}s`, '--latency', `http://127.0.0.1:${targetPort}/small`];
  // Each measurement also says, per process, how many ms per second it ran on a CPU and waited
  // runnable for one (schedstat), and the doors' event-loop delay: where a small request waits.
  const fixed = [process.pid, server.pid!, target.pid!];
  const names = ['doors', 'tunnel server', 'destination', 'wrk', 'curl'];
  const eventLoop = monitorEventLoopDelay({ resolution: 1 });
  let curlPid: number | undefined;
  const timed = async (command: string, args: string[]): Promise<{ result: ReturnType<typeof parseWrk>; tunnelMbps: number; note: string }> => {
    eventLoop.reset();
    eventLoop.enable();
    hops.on = true;
    hops.bytes = 0;
    const child = execFile(command, args, { maxBuffer: 1 << 20 });
    const pids = [...fixed, child.pid, curlPid];
    const before = pids.map(schedstat);
    const t0 = performance.now();
    let stdout = '';
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    // wrk's own figures are gone once it exits: keep its latest.
    let wrkLast = before[3];
    const poll = setInterval(() => {
      const now = schedstat(child.pid);
      if (now[0] > 0) wrkLast = now;
    }, 100);
    const seconds = await new Promise<number>((resolve) => child.once('exit', () => resolve((performance.now() - t0) / 1000)));
    const tunnelMbps = (hops.bytes * 8) / 1e6 / seconds;
    clearInterval(poll);
    const after = pids.map((pid, i) => (i === 3 ? wrkLast : schedstat(pid)));
    eventLoop.disable();
    hops.on = false;
    const ms = (ns: number): string => (ns / 1e6).toFixed(1);
    const note = `main threads' ms per s on a CPU/waiting for one (mean wait per run, ms): ${schedNote(names, before, after, seconds)}; doors' event-loop delay p50 ${ms(eventLoop.percentile(50))} p99 ${ms(eventLoop.percentile(99))} max ${ms(eventLoop.max)} ms`;
    const result = parseWrk(stdout);
    return { result, tunnelMbps, note: `${result.requestsPerSecond.toFixed(0)} requests/s, tunnel ${tunnelMbps.toFixed(0)} Mbit/s; ${note}${process.env.BENCH_HOPS === '1' ? `; ${hopsNote()}` : ''}` };
  };
  const small = () => timed('proxychains4', ['-q', '-f', conf, ...wrk]);
  // The same requests straight to the server, not through the tunnel: what the machine's CPUs alone make of the download.
  const direct = () => timed(wrk[0], wrk.slice(1));
  const download = () => {
    const limit = process.env.BENCH_BULK_LIMIT ? ['--limit-rate', process.env.BENCH_BULK_LIMIT] : [];
    const child = execFile('curl', [...limit, '-sS', '-o', '/dev/null', '--max-time', String(DURATION_S + 1), '-w', '%{speed_download}', '--socks5-hostname', `127.0.0.1:${socksPort}`, `http://127.0.0.1:${targetPort}/bytes/${8 * 2 ** 30}`]);
    curlPid = child.pid;
    let stdout = '';
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    return new Promise<{ stdout: string }>((resolve) => child.once('exit', () => resolve({ stdout })));
  };
  const alone: number[] = [];
  const shared: number[] = [];
  const directShared: number[] = [];
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    curlPid = undefined;
    const a = await small();
    alone.push(a.result.latencyP99Ms ?? NaN);
    let bulk = download();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const s = await small();
    shared.push(s.result.latencyP99Ms ?? NaN);
    await bulk;
    rates.push(s.tunnelMbps);
    bulk = download();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const d = await direct();
    directShared.push(d.result.latencyP99Ms ?? NaN);
    await bulk;
    console.log(
      `shared round ${round + 1}: p99 alone ${alone[round].toFixed(2)} ms, with a download ${shared[round].toFixed(2)} ms (straight to the server with the download ${directShared[round].toFixed(2)} ms); download while they share ${rates[round].toFixed(0)} Mbit/s  load ${loadavg()[0].toFixed(2)}`,
    );
    if (process.env.BENCH_SCHED === '1') console.log(`  alone: ${a.note}\n  shared: ${s.note}\n  direct: ${d.note}`);
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1];
  console.log(`shared: p99 with a download / alone, medians: ${(median(shared) / median(alone)).toFixed(2)}× (alone ${median(alone).toFixed(2)} ms, with ${median(shared).toFixed(2)} ms; straight to the server with the download: ${median(directShared).toFixed(2)} ms); the download while they share ${median(rates).toFixed(0)} Mbit/s`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM');
    setTimeout(() => process.exit(), 500).unref();
  });

// `npx tsx bench/run.ts` (or `npm run bench:run`): what `tp run`'s LD_PRELOAD library costs and
// gains, with wrk (a dynamically linked load generator from Debian) as the program:
//   1. new connections/s and keep-alive requests/s to a "cluster" address through the library
//      (connect hand-over to tp's redirect listener), side by side with the same wrk under
//      proxychains4 pointed at tp's own SOCKS5 server — both reach the same backend through the
//      same daemon-side dial, so only the client-side mechanism differs;
//      and the same wrk under `tp run --netns`'s capture (src/capture: a user + network namespace
//      whose nftables rules send every connection to the C relay, which hands it to the daemon's
//      capture socket), when this machine allows unprivileged namespaces;
//   2. new connections/s to a loopback server with and without the library (it should cost
//      nothing: loopback is decided before anything else).
// The daemon side (redirect listener, SOCKS5 server) runs in this process; the backend HTTP
// server in a child process. BENCH_DIAL_DELAY_MS delays every daemon-side dial, standing in for
// the tunnel round trip a real cluster dial takes (0 by default). BENCH_URL=http://<ClusterIP>/
// instead measures against a real cluster through the running `tp connect` daemon of this user
// (its routes file and SOCKS5 port), e.g. the sandbox's hello Service.
// Prints a table and writes JSON under bench/results/. Not a test: nothing asserts speed.
// Env: BENCH_DURATION_S (5), BENCH_CONNECTIONS (16), BENCH_THREADS (2).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { status as daemonStatus } from '../src/daemon/cli-to-daemon.js';
import { daemonPaths } from '../src/daemon/paths.js';
import { RedirectListener } from '../src/run/daemon/redirect-listener.js';
import { shimFiles } from '../src/run/daemon/routes-file.js';
import { writeRoutesFile } from '../src/run/daemon/routes-file.js';
import { connectTcp, DialError, type Dial } from '../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../src/proxy/routing.js';
import { SocksServer } from '../src/proxy/socks-server.js';
import { PRELOAD_LIBRARY, SHIM_BUILD_SCRIPT } from '../src/run/shim-files.js';
import { CaptureListener } from '../src/run/daemon/capture-listener.js';
import { captureInvocation } from '../src/capture/namespace.js';
import { captureSupport, type CaptureTools } from '../src/capture/support.js';

const execFileAsync = promisify(execFile);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const CLUSTER_IP = '198.51.100.7';
const TOKEN = 'benchbenchbenchbenchbenchbench00';
const DIAL_DELAY_MS = Number(process.env.BENCH_DIAL_DELAY_MS ?? 0);
const CLUSTER_URL = process.env.BENCH_URL;
const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));

interface WrkResult {
  requestsPerSecond: number;
  errors: number;
}

function startBackend(): Promise<{ child: ChildProcess; port: number }> {
  const script = 'require("http").createServer((q, s) => s.end("ok")).listen(0, "127.0.0.1", function () { console.log(this.address().port); })';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve({ child, port: Number(chunk.toString().trim()) }));
    child.once('error', reject);
  });
}

interface Netns {
  tools: CaptureTools;
  captureSocket: string;
  stateDir: string;
}

async function wrk(url: string, options: { close: boolean; env?: NodeJS.ProcessEnv; prefix?: string[]; netns?: Netns }): Promise<WrkResult> {
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${DURATION_S}s`, ...(options.close ? ['-H', 'Connection: close'] : []), url];
  const [cmd, ...rest] = [...(options.prefix ?? []), 'wrk', ...args];
  const stdout = options.netns ? await inNamespace(options.netns, cmd, rest) : (await execFileAsync(cmd, rest, { env: options.env ?? process.env, timeout: (DURATION_S + 30) * 1000 })).stdout;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  return {
    requestsPerSecond: rps ? Number(rps[1]) : 0,
    // With Connection: close, wrk counts the server's close as a read "error"; only count the rest.
    errors: (errors ? Number(errors[1]) + Number(errors[3]) + Number(errors[4]) : 0) + (non2xx ? Number(non2xx[1]) : 0),
  };
}

/** Runs the command in tp run --netns's namespace (fd 3 is the relay's lifeline) and returns its output. */
async function inNamespace(netns: Netns, command: string, args: string[]): Promise<string> {
  const invocation = captureInvocation({ ...netns, command, args });
  try {
    const child = spawn(invocation.file, invocation.args, { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    if (code !== 0) throw new Error(`${command} in the namespace exited with ${code}`);
    return stdout;
  } finally {
    invocation.dispose();
  }
}

/** The user's connected daemon: its SOCKS5 port and the routes file the library reads. */
async function runningDaemon(): Promise<{ socksPort: number; routesFile: string }> {
  const paths = daemonPaths();
  const current = await daemonStatus(paths);
  if (current?.phase !== 'connected' || !current.listeners) throw new Error('BENCH_URL needs a connected daemon: run `tp connect` first');
  return { socksPort: Number(current.listeners.socks.split(':')[1]), routesFile: shimFiles(paths).routesFile };
}

async function main(): Promise<void> {
  await execFileAsync('sh', [SHIM_BUILD_SCRIPT]);
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-run-'));
  const backend = await startBackend();
  const table = createRoutingTable({ serviceCidrs: ['198.51.100.0/24'] });
  const dial: Dial = async (target) => {
    if (target.host !== CLUSTER_IP) throw new DialError('TP_ERR_DIAL_REFUSED', target, 'not the bench target');
    if (DIAL_DELAY_MS > 0) await new Promise((resolve) => setTimeout(resolve, DIAL_DELAY_MS));
    return connectTcp({ host: '127.0.0.1', port: backend.port });
  };
  const route = (target: { host: string; port?: number }) => decideRoute(target, table);
  const redirect = new RedirectListener({ token: TOKEN, route, dial });
  const socks = new SocksServer({ route, dial });
  const { redirectPort, handoverPort } = await redirect.listen();
  const socksPort = (await socks.listen()).port;
  const support = captureSupport();
  const capture = support.ok && !CLUSTER_URL ? new CaptureListener({ socketPath: join(dir, 'capture.sock'), route, dial, dnsPort: 0 }) : undefined;
  await capture?.listen();
  const netns: Netns | undefined = capture && support.ok ? { tools: support.tools, captureSocket: join(dir, 'capture.sock'), stateDir: dir } : undefined;
  if (!netns) console.log(`tp run --netns is left out: ${support.ok ? 'BENCH_URL measures the running daemon, whose capture socket this bench does not drive' : support.error.message}`);
  const routesFile = join(dir, 'routes');
  writeRoutesFile(routesFile, { token: TOKEN, redirectPort, handoverPort, dnsPort: 0, nameSocket: join(dir, 'none.sock'), table, nameservers: [] });
  const daemon = CLUSTER_URL ? await runningDaemon() : undefined;
  const proxychainsConf = join(dir, 'proxychains.conf');
  writeFileSync(proxychainsConf, `strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 127.0.0.1 ${daemon?.socksPort ?? socksPort}\n`);
  const shimEnv = { ...process.env, LD_PRELOAD: PRELOAD_LIBRARY, TP_ROUTES: daemon?.routesFile ?? routesFile };
  const clusterUrl = CLUSTER_URL ?? `http://${CLUSTER_IP}/`;
  const localUrl = `http://127.0.0.1:${backend.port}/`;
  const proxychains = ['proxychains4', '-q', '-f', proxychainsConf];

  const rows: { name: string; result: WrkResult }[] = [];
  const measure = async (name: string, run: () => Promise<WrkResult>) => {
    const result = await run();
    rows.push({ name, result });
    console.log(`${name.padEnd(52)} ${result.requestsPerSecond.toFixed(0).padStart(9)} /s  errors ${result.errors}`);
  };
  try {
    const where = CLUSTER_URL ? `${CLUSTER_URL} through the running tp daemon` : `Node http on loopback, dial delay ${DIAL_DELAY_MS} ms`;
    console.log(`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION_S}s; target: ${where}\n`);
    await measure('new connections: tp library (LD_PRELOAD)', () => wrk(clusterUrl, { close: true, env: shimEnv }));
    await measure('new connections: proxychains4 -> tp SOCKS5', () => wrk(clusterUrl, { close: true, prefix: proxychains }));
    if (netns) await measure('new connections: tp run --netns (capture relay)', () => wrk(clusterUrl, { close: true, netns }));
    await measure('keep-alive requests: tp library (LD_PRELOAD)', () => wrk(clusterUrl, { close: false, env: shimEnv }));
    await measure('keep-alive requests: proxychains4 -> tp SOCKS5', () => wrk(clusterUrl, { close: false, prefix: proxychains }));
    if (netns) await measure('keep-alive requests: tp run --netns (capture relay)', () => wrk(clusterUrl, { close: false, netns }));
    await measure('local new connections: no library', () => wrk(localUrl, { close: true }));
    await measure('local new connections: tp library loaded', () => wrk(localUrl, { close: true, env: shimEnv }));
    await measure('local new connections: no library (again)', () => wrk(localUrl, { close: true }));
  } finally {
    await Promise.allSettled([redirect.destroy(), socks.destroy(), capture?.close()]);
    backend.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const rate = (name: string) => rows.find((row) => row.name.startsWith(name))?.result.requestsPerSecond ?? 0;
  const summary = {
    newConnectionsRatio: rate('new connections: tp') / rate('new connections: proxychains4'),
    keepAliveRatio: rate('keep-alive requests: tp') / rate('keep-alive requests: proxychains4'),
    netnsNewConnectionsRatio: netns ? rate('new connections: tp run --netns') / rate('new connections: proxychains4') : undefined,
    netnsKeepAliveRatio: netns ? rate('keep-alive requests: tp run --netns') / rate('keep-alive requests: proxychains4') : undefined,
    localCostPercent: (1 - rate('local new connections: tp') / ((rate('local new connections: no library') + rate('local new connections: no library (again)')) / 2)) * 100,
  };
  console.log(`\ntp / proxychains4: new connections ${summary.newConnectionsRatio.toFixed(2)}x, keep-alive requests ${summary.keepAliveRatio.toFixed(2)}x`);
  if (netns) console.log(`tp run --netns / proxychains4: new connections ${summary.netnsNewConnectionsRatio!.toFixed(2)}x, keep-alive requests ${summary.netnsKeepAliveRatio!.toFixed(2)}x`);
  console.log(`library cost on local connections: ${summary.localCostPercent.toFixed(1)}% (negative: faster; noise is a few %)`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `run-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ durationS: DURATION_S, connections: CONNECTIONS, threads: THREADS, dialDelayMs: DIAL_DELAY_MS, target: CLUSTER_URL ?? 'local', rows, summary }, null, 2) + '\n');
  console.log(`results: ${file}`);
}

main().then(
  // Ended with process.exit, not by letting the loop drain: three quick runs (15:44, 19:27 and
  // 01:10) printed their results and then kept a core busy for minutes. perf showed the main
  // thread after the loop had drained, in Node's environment teardown (FreeEnvironment →
  // CleanupHandles) calling uv_run over and over with no syscall, waiting for a handle that never
  // finished closing; a timer cannot fire there. process.exit leaves without that teardown. The
  // results are written and stdout flushed (a write to a pipe or file is synchronous) by now.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

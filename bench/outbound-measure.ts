// The outbound benchmark's load: one download with curl (bytes/s as curl measures it, body to
// /dev/null) and one wrk run (requests/s, with keep-alive or one request per connection), each
// through one of four routes — tp's HTTP proxy, tp's SOCKS5, `ssh -D`'s SOCKS5, or direct from a
// pod inside the cluster. SOCKS5 for wrk comes from proxychains4 (wrk has no proxy support); the
// HTTP proxy route uses bench/fixtures/wrk-absolute-uri.lua. Laptop routes run as the laptop user.
// Leaves out judging the figures: outbound.ts prints and stores them.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { asUser } from '../test/helpers/unprivileged.js';

const execFileAsync = promisify(execFile);
const WRK_PROXY_SCRIPT = fileURLToPath(new URL('fixtures/wrk-absolute-uri.lua', import.meta.url));

/** How a client reaches the target. */
export type Route =
  | { kind: 'http-proxy'; proxy: string }
  | { kind: 'socks5'; proxy: string }
  | { kind: 'in-cluster'; podArgv: (argv: string[]) => Promise<string[]> };

export interface MeasureContext {
  /** The laptop user's environment. */
  env: NodeJS.ProcessEnv;
  /** A directory the laptop user may read, for proxychains configuration files. */
  workDir: string;
}

export interface DownloadResult {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
}

export interface RateResult {
  requestsPerSecond: number;
  requests: number;
  errors: number;
  latencyAvgMs?: number;
  latencyP50Ms?: number;
  latencyP99Ms?: number;
}

export interface RateOptions {
  keepAlive: boolean;
  durationS: number;
  connections: number;
}

export class MeasureError extends Error {
  readonly code = 'TP_BENCH_MEASURE';
}

/** GET `url` (n bytes) with curl through `route`; fails unless every byte arrived with a 200. */
export async function download(route: Route, url: string, expectedBytes: number, context: MeasureContext, timeoutS: number): Promise<DownloadResult> {
  const proxyArgs = route.kind === 'http-proxy' ? ['-x', `http://${route.proxy}`] : route.kind === 'socks5' ? ['--socks5-hostname', route.proxy] : [];
  const argv = ['curl', '-sS', '--max-time', String(timeoutS), '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total} %{speed_download}', ...proxyArgs, url];
  const stdout = await runOn(route, argv, context, (timeoutS + 10) * 1000);
  const [code, size, seconds, speed] = stdout.trim().split(' ').map(Number);
  if (code !== 200 || size !== expectedBytes) {
    throw new MeasureError(`download through ${route.kind} got HTTP ${code} and ${size} of ${expectedBytes} bytes`);
  }
  return { bytes: size, seconds: seconds!, bytesPerSecond: speed! };
}

/** wrk against `url` through `route`: requests/s with keep-alive, or one request per connection. */
export async function requestRate(route: Route, url: string, options: RateOptions, context: MeasureContext): Promise<RateResult> {
  // One thread per connection: proxychains makes connect() block for the SOCKS handshake, which
  // would otherwise serialise a thread's new connections; the same shape is used on every route.
  const common = ['-t', String(options.connections), '-c', String(options.connections), '-d', `${options.durationS}s`, '--latency', ...(options.keepAlive ? [] : ['-H', 'Connection: close'])];
  let argv: string[];
  let env: NodeJS.ProcessEnv = {};
  if (route.kind === 'http-proxy') {
    argv = ['wrk', ...common, '-s', WRK_PROXY_SCRIPT, `http://${route.proxy}/`];
    env = { BENCH_URL: url };
  } else if (route.kind === 'socks5') {
    argv = ['proxychains4', '-q', '-f', proxychainsConf(route.proxy, context), 'wrk', ...common, url];
  } else {
    argv = ['wrk', ...common, url];
  }
  const stdout = await runOn(route, argv, context, (options.durationS + 30) * 1000, env);
  return parseWrk(stdout);
}

export function parseWrk(stdout: string): RateResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  if (!rps || !total) throw new MeasureError(`wrk printed no rate:\n${stdout}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  const ms = (pattern: RegExp): number | undefined => {
    const match = pattern.exec(stdout);
    return match ? Number(match[1]) * scale[match[2] as keyof typeof scale] : undefined;
  };
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(total[1]),
    // With Connection: close wrk counts each server close as a read error, so reads are left out.
    errors: (socketErrors ? Number(socketErrors[1]) + Number(socketErrors[3]) + Number(socketErrors[4]) : 0) + (non2xx ? Number(non2xx[1]) : 0),
    latencyAvgMs: ms(/Latency\s+([\d.]+)(us|ms|s)\b/),
    latencyP50Ms: ms(/^\s+50%\s+([\d.]+)(us|ms|s)$/m),
    latencyP99Ms: ms(/^\s+99%\s+([\d.]+)(us|ms|s)$/m),
  };
}

function proxychainsConf(proxy: string, context: MeasureContext): string {
  const [host, port] = proxy.split(':');
  const file = join(context.workDir, `proxychains-${port}.conf`);
  writeFileSync(file, `strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 ${host} ${port}\n`, { mode: 0o644 });
  return file;
}

async function runOn(route: Route, argv: string[], context: MeasureContext, timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  let file: string;
  let args: string[];
  if (route.kind === 'in-cluster') {
    [file, ...args] = await route.podArgv(extraEnv.BENCH_URL ? ['env', `BENCH_URL=${extraEnv.BENCH_URL}`, ...argv] : argv);
  } else {
    const envArgs = Object.entries({ ...context.env, ...extraEnv }).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
    [file, args] = asUser('env', ['-i', ...envArgs, ...argv]);
  }
  try {
    const { stdout } = await execFileAsync(file!, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new MeasureError(`${argv[0]} through ${route.kind} failed: ${(e.stderr || e.stdout || e.message).trim().slice(-500)}`, { cause: error });
  }
}

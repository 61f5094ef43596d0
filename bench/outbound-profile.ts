// CPU profiles of running Node processes (the tp daemon, the traffic-manager in its pod) without
// restarting them: SIGUSR1 opens Node's inspector on 127.0.0.1:9229 in the process's own network
// namespace, and the DevTools protocol's Profiler takes a sampled profile over a WebSocket. A
// process in a pod's namespace is reached through a unix socket on the host that socat bridges
// into the namespace (`ip netns exec`). The inspector is closed again afterwards. summarize()
// turns a profile into self time by function and by package. Leaves out heap profiles. Used by
// outbound.ts when BENCH_PROFILE=1.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

const INSPECTOR_PORT = 9229; // Node's default, which SIGUSR1 always uses
const OPEN_TIMEOUT_MS = 10_000;
const SAMPLING_INTERVAL_US = 200;

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by package or area (ws, @kubernetes/client-node, tp's tunnel, node internals…). */
  byArea: { area: string; ms: number; percent: number }[];
  /** Self time by function, largest first. */
  byFunction: { fn: string; ms: number; percent: number }[];
}

export class ProfileError extends Error {
  readonly code = 'TP_BENCH_PROFILE';
}

/** A profiler attached to one process; start() begins sampling, stop() returns the profile. */
export class InspectorProfiler {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly bridge: { child: ChildProcess; dir: string } | undefined,
  ) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id!);
      if (message.error) waiter.reject(new ProfileError(message.error.message));
      else waiter.resolve(message.result);
    });
  }

  /** Opens the inspector of `pid`; `netns` names the pod namespace it lives in, if not the host's. */
  static async attach(pid: number, netns?: string): Promise<InspectorProfiler> {
    process.kill(pid, 'SIGUSR1');
    let bridge: { child: ChildProcess; dir: string } | undefined;
    if (netns) {
      const dir = mkdtempSync(join(tmpdir(), 'tp-bench-inspect-'));
      const socket = join(dir, 'inspector.sock');
      const child = spawn('socat', [`UNIX-LISTEN:${socket},fork,mode=600`, `EXEC:ip netns exec ${netns} socat STDIO TCP\\:127.0.0.1\\:${INSPECTOR_PORT}`], { stdio: 'ignore' });
      bridge = { child, dir };
      await waitUntil(() => existsSync(socket), 'the inspector bridge');
    }
    const socketPath = bridge ? join(bridge.dir, 'inspector.sock') : undefined;
    const target = await waitUntil(() => debuggerPath(socketPath), `the inspector of pid ${pid}`);
    const url = socketPath ? `ws+unix://${socketPath}:${target}` : `ws://127.0.0.1:${INSPECTOR_PORT}${target}`;
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await once(ws, 'open');
    const profiler = new InspectorProfiler(ws, bridge);
    await profiler.call('Profiler.enable');
    await profiler.call('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    return profiler;
  }

  async start(): Promise<void> {
    await this.call('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    return ((await this.call('Profiler.stop')) as { profile: CpuProfile }).profile;
  }

  /** A full garbage collection now, then the process's heap in use (capacity.ts: is memory returned?). */
  async collectGarbage(): Promise<{ heapUsed: number }> {
    await this.call('HeapProfiler.collectGarbage');
    const answer = (await this.call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })) as { result: { value: number } };
    return { heapUsed: answer.result.value };
  }

  /** Closes the process's inspector (it stops listening) and the bridge; idempotent. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) {
      // process._debugEnd() closes the inspector from inside; the reply may never come.
      this.ws.send(JSON.stringify({ id: this.nextId++, method: 'Runtime.evaluate', params: { expression: 'process._debugEnd()' } }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      this.ws.terminate();
    }
    if (this.bridge && this.bridge.child.exitCode === null) {
      this.bridge.child.kill('SIGTERM');
      rmSync(this.bridge.dir, { recursive: true, force: true });
    }
  }

  private call(method: string, params?: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
}

export function summarize(profile: CpuProfile, top = 12): ProfileSummary {
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples?.length ?? 1);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let totalMs = 0;
  for (const node of profile.nodes) {
    const ms = (node.hitCount ?? 0) * intervalMs;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const fn = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    const area = areaOf(functionName, url);
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
    if (area !== '(idle)') totalMs += ms;
  }
  const rank = (map: Map<string, number>, key: 'fn' | 'area') =>
    [...map]
      .filter(([name]) => name !== '(idle) ' && name !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ [key]: name, ms: Math.round(ms), percent: Math.round((ms / Math.max(totalMs, 1)) * 100) }));
  return { totalMs: Math.round(totalMs), byArea: rank(byArea, 'area') as ProfileSummary['byArea'], byFunction: rank(byFunction, 'fn') as ProfileSummary['byFunction'] };
}

function areaOf(functionName: string, url: string): string {
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(program)') return '(program: native, outside JS)';
  if (functionName === '(garbage collector)') return '(garbage collector)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const tp = /\/(dist|src)\/([^/]+)\//.exec(url);
  if (tp) return `tp ${tp[2]}`;
  if (url.startsWith('node:internal/')) return `node internal/${url.slice(14).split('/')[0]!.replace(/\.js$/, '')}`;
  if (url.startsWith('node:')) return `node ${url.slice(5)}`;
  return url ? shortUrl(url) : '(native)';
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|dist|src)\//, '$1/');
}

function debuggerPath(socketPath: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port: INSPECTOR_PORT, socketPath, path: '/json/list', timeout: 1_000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => {
        try {
          const url = (JSON.parse(body) as { webSocketDebuggerUrl: string }[])[0]?.webSocketDebuggerUrl;
          resolve(url ? new URL(url).pathname : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

async function waitUntil<T>(probe: () => T | Promise<T>, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + OPEN_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new ProfileError(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Shared by the fault end-to-end tests: each file gets its own workload namespace and its own
// traffic-manager (`<name>` and `<name>-mgr`), so killing that manager touches no other test; long
// downloads run as the test user in the background (curl through SOCKS5, the HTTP proxy or
// `tp run`), watched through the file they write; and the bytes the `bulk` server sends, to check
// what arrived.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { asUser } from '../../helpers/unprivileged.js';
import { coreApi, kubectl } from '../helpers/cluster.js';
import { fixture } from '../helpers/images.js';
import { CHECKOUT, TP_BIN, newLaptop, type Laptop } from '../helpers/laptop.js';

export const MANAGER_SELECTOR = 'app.kubernetes.io/name=traffic-manager';

export interface FaultEnv {
  namespace: string;
  managerNamespace: string;
  laptop: Laptop;
  /** tp with this file's manager and namespace flags added. */
  tp(args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
}

/** Workloads in `namespace`, a manager in `<namespace>-mgr`, and a laptop connected to both. */
export async function setUpFaults(namespace: string): Promise<FaultEnv> {
  const managerNamespace = `${namespace}-mgr`;
  await kubectl(['apply', '-f', '-'], { input: fixture('test/e2e/faults/fixtures/workloads.yaml.tmpl', namespace) });
  for (const name of ['bulk', 'web']) await kubectl(['-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=90s'], { timeoutMs: 100_000 });
  await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s'], { timeoutMs: 70_000 });
  const laptop = newLaptop(namespace);
  const tp = (args: string[], timeoutMs = 180_000) => laptop.tp([...args, '--manager-namespace', managerNamespace], { timeoutMs });
  await tp(['manager', 'install', '--upgrade'], 150_000);
  await tp(['connect', '-n', namespace], 120_000);
  return { namespace, managerNamespace, laptop, tp };
}

export async function tearDownFaults(env: FaultEnv | undefined): Promise<void> {
  if (!env) return;
  await env.tp(['manager', 'uninstall'], 120_000).catch(() => undefined);
  await env.laptop.cleanup();
  await kubectl(['delete', 'namespace', env.namespace, env.managerNamespace, '--wait=false', '--ignore-not-found']).catch(() => undefined);
}

export async function managerPods(env: FaultEnv): Promise<string[]> {
  const pods = await coreApi().listNamespacedPod({ namespace: env.managerNamespace, labelSelector: MANAGER_SELECTOR });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);
}

/** What `tp status --output json` says about the manager link. */
export interface LinkStatus {
  state: string;
  reconnects: number;
  lastError?: string;
  managerPod?: string;
  outage?: { since: string; until?: string; attempts: number; lastError?: string };
}

export async function linkStatus(env: FaultEnv): Promise<LinkStatus> {
  return (JSON.parse((await env.laptop.tp(['status', '--output', 'json'])).stdout) as { manager: LinkStatus }).manager;
}

export interface Download {
  name: string;
  file: string;
  /** Bytes written to the file so far. */
  received(): number;
  /** curl's (or tp run's) exit code and stderr once it ends. */
  done: Promise<{ code: number; stderr: string }>;
}

/** Starts `argv` as the test user with the laptop's environment; it writes its download to `file`. */
export function startDownload(laptop: Laptop, name: string, argv: string[], file: string): Download {
  const vars = Object.entries(laptop.env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  const [cmd, args] = asUser('env', ['-i', ...vars, ...argv]);
  const child = spawn(cmd, args, { cwd: CHECKOUT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on('error', (error) => resolve({ code: -1, stderr: error.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stderr }));
  });
  return {
    name,
    file,
    done,
    received: () => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    },
  };
}

/** curl's arguments for one download through each of tp's three client paths. */
export function curlThrough(path: 'socks5' | 'http-proxy' | 'tp-run', listeners: { socks: string; http: string }, url: string, extra: string[]): string[] {
  const common = ['-sS', '--http1.0', ...extra];
  if (path === 'socks5') return ['curl', ...common, '--socks5-hostname', listeners.socks, url];
  if (path === 'http-proxy') return ['curl', ...common, '-x', `http://${listeners.http}`, url];
  // `tp run` with curl told to use no proxy: the LD_PRELOAD library carries the connection.
  return [process.execPath, TP_BIN, 'run', '--', 'curl', ...common, '--noproxy', '*', url];
}

/** SHA-256 of the first `length` bytes the bulk server sends. */
export function bulkSha256(length: number): string {
  const chunk = Buffer.alloc(65_536);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i % 256;
  const hash = createHash('sha256');
  for (let left = length; left > 0; left -= chunk.length) hash.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
  return hash.digest('hex');
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

// The "laptop" in tp's end-to-end tests: an unprivileged user (tpuser) with its own XDG
// directories per test file, so each file gets its own tp daemon, running tp's CLI against the
// cluster of helpers/cluster.ts. Also the demo workloads and the manager, installed once and
// idempotently, and small polling helpers. Whoever runs the suite provides the cluster
// (test/sandbox/run-tests.ts the sandbox, test/e2e/run.ts any other).
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { asUser, RUNNING_AS_ROOT, spawnAsUser, TEST_USER } from '../../helpers/unprivileged.js';
import { KUBECONFIG, kubectl } from './cluster.js';
import { fixture } from './images.js';
import { ensureTlsEchoSecret } from './tls-echo.js';

const execFileAsync = promisify(execFile);
export const TP_BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));
export { KUBECONFIG };

export interface Laptop {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Runs `tp args…` as the test user; rejects with stdout/stderr on a non-zero exit. */
  tp(args: string[], options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string }>;
  /** Runs any program as the test user with this laptop's environment. */
  run(cmd: string, args: string[], options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

/** A fresh laptop: XDG dirs of its own, KUBECONFIG pointing at the suite's cluster. */
export function newLaptop(name: string): Laptop {
  const home = mkdtempSync(join(tmpdir(), `tp-e2e-${name}-`));
  if (RUNNING_AS_ROOT) chownSync(home, uidOf(TEST_USER), gidOf(TEST_USER));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_STATE_HOME: join(home, 'state'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: '',
    KUBECONFIG,
    LANG: 'C.UTF-8',
    // The manager image every `tp manager install` deploys on a cluster other than the sandbox.
    TP_IMAGE: process.env.TP_E2E_IMAGE_TP,
  };
  const run: Laptop['run'] = async (cmd, args, options = {}) => {
    const [file, argv] = asUser('env', ['-i', ...Object.entries({ ...env, ...options.env }).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`), cmd, ...args]);
    return execFileAsync(file, argv, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, cwd: CHECKOUT, maxBuffer: 64 << 20 });
  };
  return {
    env,
    home,
    run,
    tp: (args, options) => run(process.execPath, [TP_BIN, ...args], options),
    async cleanup() {
      await run(process.execPath, [TP_BIN, 'quit']).catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A `tp …` of the laptop's user that runs while the test goes on: its process and, when it ends, its exit code and output. */
export function spawnTp(laptop: Laptop, args: string[], input = ''): { child: ChildProcess; done: Promise<{ code: number; stdout: string; stderr: string }> } {
  const child = spawnAsUser('env', ['-i', ...Object.entries(laptop.env).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`), process.execPath, TP_BIN, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.end(input);
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { child, done };
}

/**
 * Applies the demo workloads (and the TLS Secret they need) and waits for them; installs the
 * traffic-manager (all idempotent). Returns the path of the CA that issued tls-echo's certificate.
 */
export async function ensureDemoAndManager(laptop: Laptop): Promise<{ demoCa: string }> {
  const { caFile: demoCa, created } = await ensureTlsEchoSecret();
  await kubectl(['apply', '-f', '-'], { input: fixture('test/e2e/fixtures/demo.yaml.tmpl') });
  if (created) await kubectl(['rollout', 'restart', 'deployment/tls-echo']);
  for (const name of ['hello', 'tls-echo', 'tcp-echo']) await kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=90s'], { timeoutMs: 100_000 });
  await laptop.tp(['manager', 'install'], { timeoutMs: 120_000 });
  return { demoCa };
}

export interface Listeners {
  socks: string;
  http: string;
  pac: string;
  dns: string;
}

/** `tp connect --output json` → the listeners it reports. */
export async function connect(laptop: Laptop, extra: string[] = []): Promise<{ listeners: Listeners; status: Record<string, unknown> }> {
  const { stdout } = await laptop.tp(['connect', '--output', 'json', ...extra], { timeoutMs: 90_000 });
  const result = JSON.parse(stdout) as { status: { listeners: Listeners } & Record<string, unknown> };
  return { listeners: result.status.listeners, status: result.status };
}

/** Calls `probe` until it resolves, or throws its last error after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T>, timeoutMs = 30_000, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}

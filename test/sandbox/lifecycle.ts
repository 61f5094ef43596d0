// Starting and stopping the sandbox from outside: `up` (idempotent; cleans stale state from a
// crash, starts sandbox.ts detached in its own session with output to the log, waits until the
// API is ready and the node is Ready) and `down` (SIGTERM, then SIGKILL of the whole process group
// if it lingers, then the node part's stale cleanup, then the state dir; idempotent, reports what
// it removed), and `restart apiserver` (SIGUSR2 to the main process, then waits until the API
// answers again). Leaves out printing: cli.ts and run-tests.ts decide what to show.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanUpStale } from './node/network.js';
import { apiReady, nodeReady } from './health.js';
import { isAlive, NETWORK_PREFIX, readPid, readStatus, sandboxPaths, sandboxPort, type SandboxPaths } from './state.js';

const MAIN_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sandbox.ts');
const UP_TIMEOUT_MS = 60_000;
const TERM_GRACE_MS = 15_000;
const POLL_MS = 100;

export class SandboxError extends Error {
  readonly code: string;
  readonly hints: string[];
  constructor(code: string, message: string, hints: string[] = []) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
    this.hints = hints;
  }
}

export function requireRoot(action: string): void {
  if (process.getuid?.() !== 0) {
    throw new SandboxError('SANDBOX_NOT_ROOT', `sandbox ${action} needs root: it creates network namespaces, links and nftables rules`, [
      `sudo npm run sandbox -- ${action}`,
    ]);
  }
}

export interface UpResult {
  alreadyRunning: boolean;
  pid: number;
  apiUrl: string;
  kubeconfig: string;
  /** Milliseconds this call waited until the sandbox was ready. */
  readyMs: number;
  /** What stale leftovers were cleaned first. */
  cleaned: string[];
}

export async function sandboxUp(paths: SandboxPaths = sandboxPaths(), port = sandboxPort()): Promise<UpResult> {
  requireRoot('up');
  const started = Date.now();
  const apiUrl = `https://127.0.0.1:${port}`;
  const pid = readPid(paths);
  if (pid !== undefined && isAlive(pid)) {
    if (await waitReady(paths, port, pid, 10_000)) {
      return { alreadyRunning: true, pid, apiUrl, kubeconfig: paths.kubeconfig, readyMs: Date.now() - started, cleaned: [] };
    }
    // Alive but not answering: treat it as stale.
  }
  const cleaned = (await sandboxDown(paths)).removed;

  mkdirSync(paths.dir, { recursive: true, mode: 0o755 });
  chmodSync(paths.dir, 0o755);
  const logFd = openSync(paths.log, 'a', 0o644);
  let childPid: number;
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN_FILE], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, TP_SANDBOX_DIR: paths.dir, TP_SANDBOX_PORT: String(port) },
      cwd: path.resolve(path.dirname(MAIN_FILE), '..', '..'),
    });
    child.unref();
    childPid = child.pid ?? 0;
  } finally {
    closeSync(logFd);
  }
  if (!(await waitReady(paths, port, childPid, UP_TIMEOUT_MS))) {
    const tail = logTail(paths);
    await sandboxDown(paths, { keepLog: true });
    throw new SandboxError('SANDBOX_UP_FAILED', `the sandbox did not get ready within ${UP_TIMEOUT_MS / 1000} s; last log lines:\n${tail}`, [
      `read ${paths.log}`,
      'DEBUG=tp:sandbox* npm run sandbox -- up',
    ]);
  }
  return { alreadyRunning: false, pid: childPid, apiUrl, kubeconfig: paths.kubeconfig, readyMs: Date.now() - started, cleaned };
}

async function waitReady(paths: SandboxPaths, port: number, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return false;
    if (readStatus(paths)?.pid === pid && (await apiReady(paths, port)) && (await nodeReady(paths))) return true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return false;
}

function logTail(paths: SandboxPaths, lines = 30): string {
  try {
    return readFileSync(paths.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface DownResult {
  stoppedPid?: number;
  killed: boolean;
  removed: string[];
}

export async function sandboxDown(paths: SandboxPaths = sandboxPaths(), options: { keepLog?: boolean } = {}): Promise<DownResult> {
  requireRoot('down');
  const result: DownResult = { killed: false, removed: [] };
  const pid = readPid(paths);
  if (pid !== undefined && isAlive(pid)) {
    result.stoppedPid = pid;
    // Only the main process: it stops its parts in order (a signal to the group would, for example,
    // kill the node agent, which the main process restarts).
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + TERM_GRACE_MS;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (isAlive(pid)) {
      signalGroup(pid, 'SIGKILL');
      result.killed = true;
      while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    result.removed.push(`process ${pid}`);
  }
  // Whatever the main process left (after a crash or SIGKILL): processes in our netns, netns, links, nft, routes.
  result.removed.push(...(await cleanUpStale(NETWORK_PREFIX)));
  if (existsSync(paths.dir)) {
    if (options.keepLog) {
      for (const name of ['kubeconfig', 'status.json', 'sandbox.pid']) rmSync(path.join(paths.dir, name), { force: true });
    } else {
      rmSync(paths.dir, { recursive: true, force: true });
      result.removed.push(`state dir ${paths.dir}`);
    }
  }
  return result;
}

export interface RestartResult {
  pid: number;
  /** Milliseconds from the signal until the restarted API server answered /readyz. */
  readyMs: number;
}

/** Restarts the running sandbox's API server in place (SIGUSR2 to the main process) and waits until it answers again. */
export async function sandboxRestartApiServer(paths: SandboxPaths = sandboxPaths(), port = sandboxPort()): Promise<RestartResult> {
  requireRoot('restart apiserver');
  const pid = readPid(paths);
  const before = readStatus(paths);
  if (pid === undefined || !isAlive(pid) || before?.pid !== pid) {
    throw new SandboxError('SANDBOX_NOT_RUNNING', 'the sandbox is not running (or not ready yet)', ['npm run sandbox -- up']);
  }
  const started = Date.now();
  signal(pid, 'SIGUSR2');
  const deadline = started + UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new SandboxError('SANDBOX_RESTART_FAILED', `the sandbox died while restarting its API server; last log lines:\n${logTail(paths)}`);
    if ((readStatus(paths)?.apiRestarts ?? 0) > (before.apiRestarts ?? 0) && (await apiReady(paths, port))) return { pid, readyMs: Date.now() - started };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new SandboxError('SANDBOX_RESTART_FAILED', `the API server did not come back within ${UP_TIMEOUT_MS / 1000} s; last log lines:\n${logTail(paths)}`, [`read ${paths.log}`]);
}

/** Signals the whole process group (sandbox.ts leads its own session), then the pid itself. */
function signalGroup(pid: number, name: NodeJS.Signals): void {
  signal(-pid, name);
  signal(pid, name);
}

function signal(target: number, name: NodeJS.Signals): void {
  try {
    process.kill(target, name);
  } catch {
    // already gone
  }
}

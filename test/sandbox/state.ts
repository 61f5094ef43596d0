// Where the sandbox keeps its state and what the files mean: the state dir (`<checkout>/.sandbox/`
// or $TP_SANDBOX_DIR), the API port ($TP_SANDBOX_PORT, default 6443), the prefix of its network
// namespaces and links ($TP_SANDBOX_PREFIX, default tpsbx: a second sandbox on the same machine,
// e.g. a test run beside a developer's, takes another dir, port and prefix), and the paths of the
// kubeconfig, CA, keys, token, pid, status and log files; kube-proxy's rule delay
// ($TP_SANDBOX_KUBE_PROXY_DELAY_MS, default 1 s); plus reading the status file and
// checking whether the recorded process still lives. Leaves out creating anything (sandbox.ts
// does). Used by sandbox.ts, cli.ts, run-tests.ts and the end-to-end tests.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHECKOUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_PORT = 6443;
export const NETWORK_PREFIX = process.env.TP_SANDBOX_PREFIX || 'tpsbx';
export const NODE_NAME = 'sandbox-node';
export const CONTEXT_NAME = 'sandbox';

export interface SandboxPaths {
  dir: string;
  kubeconfig: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminToken: string;
  signingKey: string;
  apiSocket: string;
  dialerSocket: string;
  pid: string;
  status: string;
  log: string;
  pods: string;
}

export function sandboxDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.TP_SANDBOX_DIR ?? path.join(CHECKOUT, '.sandbox'));
}

export function sandboxPort(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TP_SANDBOX_PORT;
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`TP_SANDBOX_PORT=${raw} is not a TCP port number`);
  return port;
}

/** $TP_SANDBOX_KUBE_PROXY_DELAY_MS: how long kube-proxy takes to apply a change (undefined = its default, 1 s). */
export function kubeProxyDelayMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.TP_SANDBOX_KUBE_PROXY_DELAY_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`TP_SANDBOX_KUBE_PROXY_DELAY_MS=${raw} is not a number of milliseconds`);
  return ms;
}

export function sandboxPaths(dir = sandboxDir()): SandboxPaths {
  const at = (name: string): string => path.join(dir, name);
  return {
    dir,
    kubeconfig: at('kubeconfig'),
    caCert: at('ca.crt'),
    caKey: at('ca.key'),
    serverCert: at('apiserver.crt'),
    serverKey: at('apiserver.key'),
    adminToken: at('admin-token'),
    signingKey: at('sa-signing.key'),
    apiSocket: at('api.sock'),
    dialerSocket: at('pod-dialer.sock'),
    pid: at('sandbox.pid'),
    status: at('status.json'),
    log: at('sandbox.log'),
    pods: at('pods'),
  };
}

/** What the running main process publishes once it is up. */
export interface SandboxStatus {
  pid: number;
  apiUrl: string;
  kubeconfig: string;
  startedAt: string;
  /** Milliseconds from process start until the API server, controllers and node were all up. */
  startupMs: number;
  /** How many times the API server was restarted (`npm run sandbox -- restart apiserver`). */
  apiRestarts?: number;
}

export function readStatus(paths: SandboxPaths): SandboxStatus | undefined {
  try {
    return JSON.parse(readFileSync(paths.status, 'utf8')) as SandboxStatus;
  } catch {
    return undefined;
  }
}

export function readPid(paths: SandboxPaths): number | undefined {
  try {
    const pid = Number(readFileSync(paths.pid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

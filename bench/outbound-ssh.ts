// The outbound benchmark's reference path: OpenSSH's `ssh -D` SOCKS5 proxy, logged in to the
// sshd pod through outbound-forwarder.ts (API port-forward per connection), both run as the laptop
// user. start() returns once the SOCKS port answers a SOCKS5 greeting; close() stops both
// process groups (idempotent). Leaves out host key checking (a fresh key per run) and ssh's
// own multiplexing options. Used by bench/outbound.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { asUser } from '../test/helpers/unprivileged.js';
import { freeLoopbackPort } from './free-port.js';

const FORWARDER = fileURLToPath(new URL('outbound-forwarder.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const SOCKS_GREETING = Buffer.from([0x05, 0x01, 0x00]); // RFC 1928 §3: version 5, one method, no auth

export interface SshSocksOptions {
  namespace: string;
  pod: string;
  podPort: number;
  /** Private key, readable by the laptop user only. */
  key: string;
  /** The laptop user's environment (HOME, KUBECONFIG…). */
  env: NodeJS.ProcessEnv;
}

export class SshSocksProxy {
  private closed = false;

  private constructor(
    private readonly forwarder: ChildProcess,
    private readonly ssh: ChildProcess,
    readonly socksPort: number,
    readonly forwarderPort: number,
  ) {}

  static async start(options: SshSocksOptions): Promise<SshSocksProxy> {
    const forwarder = spawnGroup(process.execPath, ['--import', 'tsx', FORWARDER, options.namespace, options.pod, String(options.podPort)], options.env, 'pipe');
    let ssh: ChildProcess | undefined;
    try {
      const forwarderPort = await readPort(forwarder);
      const socksPort = await freeLoopbackPort();
      ssh = spawnGroup('ssh', [
        '-N', '-D', `127.0.0.1:${socksPort}`, '-p', String(forwarderPort), '-i', options.key,
        '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
        '-o', 'ExitOnForwardFailure=yes', '-o', 'LogLevel=ERROR', 'root@127.0.0.1',
      ], options.env, 'ignore');
      await waitForSocks(socksPort, ssh);
      return new SshSocksProxy(forwarder, ssh, socksPort, forwarderPort);
    } catch (error) {
      stopGroup(forwarder);
      if (ssh) stopGroup(ssh);
      throw error;
    }
  }

  get pids(): { forwarder?: number; ssh?: number } {
    return { forwarder: this.forwarder.pid, ssh: this.ssh.pid };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([stopGroup(this.ssh), stopGroup(this.forwarder)]);
  }
}

/**
 * Spawns argv as the laptop user in a process group of its own, so the group can be stopped.
 * stderr is kept (its last lines go into errors) rather than shown: runuser reports every SIGTERM.
 */
function spawnGroup(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdout: 'pipe' | 'ignore'): ChildProcess {
  const envArgs = Object.entries(env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  const [file, argv] = asUser('env', ['-i', ...envArgs, cmd, ...args]);
  const child = spawn(file, argv, { stdio: ['pipe', stdout, 'pipe'], detached: true });
  let errorText = '';
  child.stderr!.on('data', (chunk: Buffer) => (errorText = (errorText + chunk.toString('utf8')).slice(-STDERR_KEPT_CHARS)));
  stderrOf.set(child, () => errorText.trim());
  child.on('error', () => undefined);
  return child;
}

const STDERR_KEPT_CHARS = 2_000;
const stderrOf = new WeakMap<ChildProcess, () => string>();

function lastWords(child: ChildProcess): string {
  const text = stderrOf.get(child)?.();
  return text ? `: ${text}` : '';
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 3_000);
  await exited;
  clearTimeout(timer);
}

async function readPort(child: ChildProcess): Promise<number> {
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => lines.close(), START_TIMEOUT_MS);
  try {
    for await (const line of lines) return (JSON.parse(line) as { port: number }).port;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`the port-forward listener exited or did not report its port in time${lastWords(child)}`);
}


async function waitForSocks(port: number, ssh: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (ssh.exitCode !== null) throw new Error(`ssh exited with code ${ssh.exitCode} before its SOCKS port opened${lastWords(ssh)}`);
    if (await socksAnswers(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`ssh -D did not open its SOCKS port within ${START_TIMEOUT_MS / 1000} s${lastWords(ssh)}`);
}

function socksAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(SOCKS_GREETING));
    socket.setTimeout(2_000, () => socket.destroy());
    socket.once('data', (reply: Buffer) => {
      socket.destroy();
      resolve(reply[0] === 0x05 && reply[1] === 0x00);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

// What the CLI does with the daemon: `connect` (start one, or find the one running, and wait
// until it is connected), `status` and `quit`. Commands stay thin; this is where the waiting and
// the error handling live.
import { errorFromBody, TpError } from '../errors.js';
import type { ControlCaller } from './control-caller.js';
import type { DaemonStatus } from './daemon.js';
import type { DaemonConfig } from './config.js';
import { cleanStale, findDaemon, readState, startDaemon } from './launcher.js';
import { daemonPaths, type DaemonPaths } from './paths.js';

export interface ConnectResult {
  alreadyConnected: boolean;
  status: DaemonStatus;
}

export async function connect(config: DaemonConfig, paths: DaemonPaths = daemonPaths()): Promise<ConnectResult> {
  const running = await findDaemon(paths);
  if (running) {
    try {
      const status = await running.call<DaemonStatus>('status');
      const wantsOther = (config.context && config.context !== status.context) || (config.namespace && config.namespace !== status.namespace);
      if (wantsOther) {
        throw new TpError('TP_ERR_CONNECTED_ELSEWHERE', `Already connected to context "${status.context}", namespace "${status.namespace}".`, {
          hints: ['Run `tp quit` first to connect somewhere else.'],
        });
      }
      if (status.phase !== 'failed') return { alreadyConnected: true, status: await waitUntilSettled(running, status) };
      await running.call('quit').catch(() => undefined);
    } finally {
      running.close();
    }
  }
  const client = await startDaemon(config, paths);
  try {
    const status = await waitUntilSettled(client, await client.call<DaemonStatus>('status'));
    if (status.phase === 'failed' && status.error) {
      await client.call('quit').catch(() => undefined);
      throw errorFromBody(status.error, 'TP_ERR_DAEMON_START');
    }
    return { alreadyConnected: false, status };
  } finally {
    client.close();
  }
}

export async function status(paths: DaemonPaths = daemonPaths()): Promise<DaemonStatus | null> {
  const client = await findDaemon(paths);
  if (!client) return null;
  try {
    return await client.call<DaemonStatus>('status');
  } finally {
    client.close();
  }
}

/** Stops the daemon and waits until its process is gone; returns whether one was running. */
export async function quit(paths: DaemonPaths = daemonPaths(), timeoutMs = 15_000): Promise<boolean> {
  const client = await findDaemon(paths);
  if (!client) return false;
  const pid = readState(paths)?.pid;
  await client.call('quit').catch(() => undefined);
  client.close();
  const deadline = Date.now() + timeoutMs;
  while (pid && alive(pid) && Date.now() < deadline) await sleep(100);
  // Whatever is left (a daemon that hung while stopping) is stale now.
  cleanStale(paths);
  return true;
}

async function waitUntilSettled(client: ControlCaller, first: DaemonStatus, timeoutMs = 90_000): Promise<DaemonStatus> {
  let current = first;
  const deadline = Date.now() + timeoutMs;
  while (current.phase === 'starting') {
    if (Date.now() > deadline) {
      throw new TpError('TP_ERR_CONNECT_TIMEOUT', 'The daemon did not connect to the traffic-manager in time.', { hints: [`Look at its log: ${current.logFile}`] });
    }
    await sleep(150);
    current = await client.call<DaemonStatus>('status');
  }
  return current;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

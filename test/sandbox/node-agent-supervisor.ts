// Keeps the node agent (cluster DNS, API forwarder, pod dialer; node/node-agent.ts) running as a
// child in the node netns: starts it, restarts it after a short pause if it dies, and on close()
// sends SIGTERM, then SIGKILL if it lingers. Leaves out back-off growth (one agent, one node).
// Used by sandbox.ts.
import type { ChildProcess } from 'node:child_process';
import { spawnNodeAgent, type NodeAgentOptions } from './node/node-agent.js';

const RESTART_DELAY_MS = 1_000;
const STOP_GRACE_MS = 5_000;

export interface SupervisedAgent {
  close(): Promise<void>;
}

export async function superviseNodeAgent(options: NodeAgentOptions, log: (message: string) => void): Promise<SupervisedAgent> {
  let child: ChildProcess = await spawnNodeAgent(options);
  let closed = false;
  let restartTimer: NodeJS.Timeout | undefined;

  const watch = (agent: ChildProcess): void => {
    agent.once('exit', (code, signal) => {
      if (closed) return;
      log(`node agent exited (${signal ?? code}); restarting in ${RESTART_DELAY_MS} ms`);
      restartTimer = setTimeout(restart, RESTART_DELAY_MS);
    });
  };
  const restart = (): void => {
    if (closed) return;
    spawnNodeAgent(options).then(
      (agent) => {
        if (closed) {
          agent.kill('SIGTERM');
          return;
        }
        child = agent;
        watch(agent);
        log('node agent restarted');
      },
      (error: Error) => {
        log(`node agent restart failed: ${error.message}`);
        restartTimer = setTimeout(restart, RESTART_DELAY_MS);
      },
    );
  };
  watch(child);

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        closed = true;
        clearTimeout(restartTimer);
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}

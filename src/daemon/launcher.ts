// Starts the user's daemon detached (so it outlives the terminal) and waits until it is connected,
// or finds the one already running. A daemon that died leaves a state file and a socket behind:
// both are detected as stale and cleaned before a new daemon starts. A daemon that fails to start
// reports its error (code, message, hints) through the control socket before it exits, so the
// CLI shows the real reason, not "timed out".
import { spawn } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TpError } from '../errors.js';
import { rotateIfFull } from '../log/rotating-file.js';
import { ControlCaller } from './control-caller.js';
import type { DaemonConfig } from './config.js';
import { daemonPaths, ensureDaemonDirs, type DaemonPaths } from './paths.js';

const RUN_JS = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface DaemonStateFile {
  pid: number;
  startedAt: string;
  controlSocket: string;
  logFile: string;
}

/** The running daemon's control client, or null after cleaning up any stale leftovers. */
export async function findDaemon(paths: DaemonPaths = daemonPaths()): Promise<ControlCaller | null> {
  try {
    const client = await ControlCaller.connect(paths.controlSocket, 1000);
    await client.call('ping', undefined, 2000);
    return client;
  } catch {
    cleanStale(paths);
    return null;
  }
}

/** Removes what a dead daemon left behind; kills a live pid that no longer answers its socket. */
export function cleanStale(paths: DaemonPaths): void {
  const state = readState(paths);
  if (state && isAlive(state.pid)) {
    try {
      process.kill(state.pid, 'SIGKILL');
    } catch {
      // it went away between the check and the kill
    }
  }
  rmSync(paths.stateFile, { force: true });
  rmSync(paths.controlSocket, { force: true });
}

export function readState(paths: DaemonPaths): DaemonStateFile | null {
  try {
    return JSON.parse(readFileSync(paths.stateFile, 'utf8')) as DaemonStateFile;
  } catch {
    return null;
  }
}

export function writeState(paths: DaemonPaths, state: DaemonStateFile): void {
  writeFileSync(paths.stateFile, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

/**
 * Spawns `tp daemon run` detached and waits for its control socket. The daemon writes and rotates
 * its log itself (an uncaught exception included); its stdout and stderr go to the same file as it
 * is at the start, so what Node prints before the logger is up, or on a fatal error such as running
 * out of memory, is in the file the user is pointed at (or, after rotations, in one of its `.N`).
 */
export async function startDaemon(config: DaemonConfig, paths: DaemonPaths = daemonPaths(), timeoutMs = 60_000): Promise<ControlCaller> {
  ensureDaemonDirs(paths);
  rotateIfFull(paths.logFile);
  const log = openSync(paths.logFile, 'a', 0o600);
  const child = spawn(process.execPath, [RUN_JS, 'daemon', 'run', '--config', JSON.stringify(config)], {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await ControlCaller.connect(paths.controlSocket, 500);
    } catch {
      if (exited !== null) {
        throw new TpError('TP_ERR_DAEMON_START', `The tp daemon exited (code ${exited}) before it was ready.`, {
          hints: [`Its log says why: ${paths.logFile}`],
        });
      }
      if (Date.now() > deadline) {
        throw new TpError('TP_ERR_DAEMON_START', 'The tp daemon did not open its control socket in time.', { hints: [`Its log: ${paths.logFile}`] });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Whether process `pid` exists (one of another user's counts: EPERM means it is there). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

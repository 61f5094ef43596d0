// Where the laptop daemon keeps its files, following the XDG base directory spec: state (the
// daemon's state file and control socket) under $XDG_STATE_HOME/tp (runtime files prefer
// $XDG_RUNTIME_DIR/tp when the session has one), logs under $XDG_CACHE_HOME/tp/logs.
// Everything is per user; directories are created 0700 because the control socket grants
// control of the user's tunnels.
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface DaemonPaths {
  /** Directory for the state file (0700). */
  stateDir: string;
  /** Directory for the control socket (0700). */
  runtimeDir: string;
  /** Directory for log files. */
  logDir: string;
  stateFile: string;
  controlSocket: string;
  logFile: string;
}

/** The paths for one daemon; `name` separates daemons of different contexts (default: `default`). */
export function daemonPaths(env: NodeJS.ProcessEnv = process.env, name = 'default'): DaemonPaths {
  const home = env.HOME ?? homedir();
  const stateDir = join(env.XDG_STATE_HOME || join(home, '.local', 'state'), 'tp');
  const runtimeDir = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'tp') : stateDir;
  const logDir = join(env.XDG_CACHE_HOME || join(home, '.cache'), 'tp', 'logs');
  return {
    stateDir,
    runtimeDir,
    logDir,
    stateFile: join(stateDir, `daemon-${name}.json`),
    controlSocket: join(runtimeDir, `daemon-${name}.sock`),
    logFile: join(logDir, `daemon-${name}.log`),
  };
}

export function ensureDaemonDirs(paths: DaemonPaths): void {
  for (const dir of [paths.stateDir, paths.runtimeDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.logDir, { recursive: true, mode: 0o700 });
}

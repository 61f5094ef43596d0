// `tp run -- <cmd>`: makes sure the daemon is connected (starting one when none runs, and
// stopping it again afterwards unless asked to keep it), builds the command's environment with
// the layers that apply (proxy variables, Node preload, LD_PRELOAD library), says once why a
// layer is missing (no compiler at install, a statically linked program, a daemon without shim
// support), runs the command with the terminal passed through, forwards SIGINT/SIGTERM/SIGHUP,
// and reports its exit code (128+n when a signal ended it). With --netns the command runs inside
// tp's capture namespace instead (netns.ts, src/capture), without proxy variables or preloads.
// Leaves out flag parsing (the command) and the shims themselves (shims/).
import { urlUserInfo } from '../proxy/door-credentials.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { logger } from '../log/logger.js';
import { TpError } from '../errors.js';
import { connect, quit, status as daemonStatus } from '../daemon/cli-to-daemon.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import type { DaemonConfig } from '../daemon/config.js';
import { daemonPaths, type DaemonPaths } from '../daemon/paths.js';
import { shimFiles } from './daemon/routes-file.js';
import { buildRunEnv, withoutShims } from './env.js';
import { inspectExecutable, type Linking } from './executable.js';
import { libraryChoice, nodePreload, preloadLibrary } from './shim-files.js';
import { checkPortMaps, chooseNetns, type NetnsMode, type NetnsChoice } from './netns.js';
import { captureInvocation, type PortMap } from '../capture/namespace.js';
import { publishPorts, type Published } from '../capture/publish.js';
import { podMountsOf } from '../capture/mounts.js';
import { captureSupport } from '../capture/support.js';
import { collectWarnings } from '../log/warnings.js';

const log = logger('tp:run');

/** The exit code of a command that could not be started (the shell's convention). */
export const EXIT_NOT_FOUND = 127;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface RunLayers {
  /** Only the proxy environment: no shim at all. */
  envOnly: boolean;
  preload: boolean;
  nodeShim: boolean;
}

export interface RunOptions {
  command: string;
  args: string[];
  /** How to connect when no daemon runs. */
  connect: DaemonConfig;
  keepConnected: boolean;
  layers: RunLayers;
  /** Run inside tp's capture namespace: 'required' (--netns), 'try' (--try-netns) or 'off'. Default 'off'. */
  netns?: NetnsMode;
  /** With the namespace: loopback ports inside (from) that reach the host's loopback (to). */
  hostPorts?: PortMap[];
  /** With the namespace: ports the command listens on inside (to), served on the host's loopback (from). */
  publish?: PortMap[];
  paths?: DaemonPaths;
  /** A daemon this machine reaches from outside (Docker mode, src/docker): its status as seen from here and the shim files for here; no daemon is started. */
  connection?: { status: DaemonStatus; files: { routesFile: string; captureSocket: string } };
  /** Where the one-line warnings go. Default: stderr. */
  warn?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  exitCode: number;
  signal?: string;
  /** The daemon was started for this command (and stopped after it unless kept). */
  connectedHere: boolean;
  layers: { proxyEnv: boolean; nodePreload: boolean; preloadLibrary: boolean; netns: boolean };
  linking: Linking;
  warnings: string[];
}

export class RunError extends TpError {}

export async function runInCluster(options: RunOptions): Promise<RunResult> {
  const paths = options.paths ?? daemonPaths();
  const baseEnv = options.env ?? process.env;
  const { warnings, warn } = collectWarnings(options.warn ?? ((text) => process.stderr.write(`tp: ${text}\n`)));
  const hostPorts = options.hostPorts ?? [];
  const publish = options.publish ?? [];
  if ((options.netns ?? 'off') === 'off' && hostPorts.length + publish.length > 0) {
    throw new RunError('TP_ERR_RUN_BAD_PORT', '--host-port and --publish are for a command in its own network namespace (--netns); without one it shares the host\'s loopback already.', {
      hints: ['Add --netns (or --try-netns), or leave out --host-port and --publish.'],
    });
  }
  checkPortMaps(hostPorts, publish);
  const library = options.layers.envOnly || !options.layers.preload ? undefined : preloadLibrary();
  const nodeScript = options.layers.envOnly || !options.layers.nodeShim ? undefined : nodePreload();

  const { status, connectedHere } = options.connection ? { status: options.connection.status, connectedHere: false } : await ensureConnected(options.connect, paths, { preloadLibrary: preloadLibrary(), nodePreload: nodePreload() });
  try {
    const listeners = status.listeners;
    if (!listeners) throw new RunError('TP_ERR_RUN_NOT_CONNECTED', 'The daemon is not connected to the cluster.', { hints: ['Run `tp status` to see why.'] });
    const { routesFile, captureSocket } = options.connection?.files ?? shimFiles(paths);
    const netns = chooseNetns(options.netns ?? 'off', captureSocket, warn, baseEnv);
    const remapped = [...hostPorts, ...publish].filter((map) => map.from !== map.to);
    if (!netns && remapped.length > 0) warn(`without the namespace the command shares the host's loopback, so ${remapped.map((map) => `${map.from}:${map.to}`).join(', ')} ${remapped.length === 1 ? 'is' : 'are'} not remapped.`);
    if (netns) {
      // A tp run --netns inside a tp run: the outer layers' preloads would point at the daemon's loopback doors, which the namespace does not have.
      const outcome = await runCaptured(netns, options, paths, withoutShims(baseEnv, { preloadLibrary: preloadLibrary(), nodePreload: nodePreload() }));
      const layers = { proxyEnv: false, nodePreload: false, preloadLibrary: false, netns: true };
      return { ...outcome, connectedHere, linking: inspectExecutable(options.command, baseEnv).linking, warnings, layers };
    }
    const shimsServed = existsSync(routesFile);
    if (!options.layers.envOnly && !shimsServed) warn('this tp daemon does not serve the shims; programs reach the cluster through the proxy settings only.');
    if (!options.layers.envOnly && options.layers.preload && !library) {
      warn(`no LD_PRELOAD library for this machine: ${libraryChoice().prebuiltMissing ?? 'no prebuilt one fits'}, and none was built when tp was installed (no C compiler). Install cc and run \`npm rebuild -g tp\` to build one; until then programs reach the cluster through the proxy settings and the Node preload only.`);
    }
    const executable = inspectExecutable(options.command, baseEnv);
    if (library && shimsServed && executable.linking === 'static') {
      const netnsHint = captureSupport(baseEnv).ok ? ' `tp run --netns` would capture all of its traffic.' : '';
      warn(`${executable.path} is statically linked, so the LD_PRELOAD library cannot see its connections; it reaches the cluster only where it honours HTTP_PROXY/HTTPS_PROXY/ALL_PROXY.${netnsHint}`);
    }
    const env = buildRunEnv(baseEnv, {
      httpProxy: listeners.http,
      socksProxy: listeners.socks,
      proxyUserInfo: urlUserInfo(listeners.credentials),
      routesFile: shimsServed ? routesFile : undefined,
      preloadLibrary: library,
      nodePreload: nodeScript,
    });
    const outcome = await runChild(options.command, options.args, env);
    return {
      ...outcome,
      connectedHere,
      linking: executable.linking,
      warnings,
      layers: { proxyEnv: true, nodePreload: Boolean(nodeScript && shimsServed), preloadLibrary: Boolean(library && shimsServed), netns: false },
    };
  } finally {
    if (connectedHere && !options.keepConnected) {
      log('stopping the daemon started for this command');
      await quit(paths).catch((err: Error) => log.warn('!! quit failed: %s', err.message));
    }
  }
}

async function ensureConnected(config: DaemonConfig, paths: DaemonPaths, shims: { preloadLibrary?: string; nodePreload?: string }): Promise<{ status: DaemonStatus; connectedHere: boolean }> {
  const running = await daemonStatus(paths);
  if (running?.phase === 'connected') return { status: running, connectedHere: false };
  // A `tp run` inside a `tp run` must not start a daemon with the shims loaded into it.
  const saved = process.env;
  process.env = withoutShims(process.env, shims);
  try {
    const result = await connect(config, paths);
    return { status: result.status, connectedHere: !result.alreadyConnected };
  } finally {
    process.env = saved;
  }
}

async function runCaptured(netns: NetnsChoice, options: RunOptions, paths: DaemonPaths, env: NodeJS.ProcessEnv): Promise<{ exitCode: number; signal?: string }> {
  const publish = options.publish ?? [];
  const invocation = captureInvocation({ tools: netns.tools, captureSocket: netns.captureSocket, stateDir: paths.runtimeDir, command: options.command, args: options.args, hostPorts: options.hostPorts, publish, podMounts: podMountsOf(env) });
  let published: Published | undefined;
  try {
    if (invocation.publishSocket) published = await publishPorts(invocation.publishSocket, publish);
    // fd 3 is the relay's lifeline: it stays open as long as this process lives.
    return await runChild(invocation.file, invocation.args, env, ['inherit', 'inherit', 'inherit', 'pipe'], (child, signal) => {
      // unshare blocks SIGINT and SIGTERM while it waits: the signal goes to the relay, its child, which passes it on.
      const relay = child.pid === undefined ? undefined : invocation.relayPid(child.pid);
      if (relay) process.kill(relay, signal);
    });
  } finally {
    await published?.close();
    invocation.dispose();
  }
}

type Stdio = 'inherit' | ['inherit', 'inherit', 'inherit', 'pipe'];

type Forward = (child: ChildProcess, signal: NodeJS.Signals) => void;

function runChild(command: string, args: string[], env: NodeJS.ProcessEnv, stdio: Stdio = 'inherit', forwardTo: Forward = (child, signal) => child.kill(signal)): Promise<{ exitCode: number; signal?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio, env });
    const forwarders = FORWARDED_SIGNALS.map((signal) => {
      const forward = (): void => {
        log('forwarding %s', signal);
        forwardTo(child, signal);
      };
      process.on(signal, forward);
      return () => process.off(signal, forward);
    });
    const cleanUp = (): void => forwarders.forEach((off) => off());
    child.once('error', (err: NodeJS.ErrnoException) => {
      cleanUp();
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(
          new RunError('TP_ERR_RUN_NOT_FOUND', `Cannot run ${command}: ${err.code === 'ENOENT' ? 'no such command' : 'permission denied'}.`, {
            cause: err,
            hints: ['Check the command name and your PATH; put tp\'s own flags before `--`.'],
          }),
        );
      } else reject(err);
    });
    child.once('exit', (code, signal) => {
      cleanUp();
      child.stdio[3]?.destroy();
      if (signal) resolve({ exitCode: 128 + (constants.signals[signal] ?? 0), signal });
      else resolve({ exitCode: code ?? 0 });
    });
  });
}

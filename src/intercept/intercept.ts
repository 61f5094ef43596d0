// What `tp intercept`, `tp leave`, `tp list` and `tp uninstall` do, for the thin commands: connect
// when no daemon runs, call the daemon's intercept methods (showing the manager's progress while
// pods roll), write env files, and for `tp intercept … -- <cmd>` run the command with the pod's
// environment through `tp run`'s shims, then leave the intercept and pass the exit code through.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, quit } from '../daemon/cli-to-daemon.js';
import { ControlCaller } from '../daemon/control-caller.js';
import type { DaemonConfig } from '../daemon/config.js';
import { daemonPaths, type DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../errors.js';
import type { AgentUninstallResult, InterceptCreateResult, InterceptInfo, InterceptListResult } from '../api/control-api.js';
import { runInCluster, type RunLayers } from '../run/run.js';
import type { NetnsMode } from '../run/netns.js';
import { InterceptControl, describe, type CreateParams, type InterceptStatus } from './control.js';
import { formatEnv, type EnvSyntax } from './env-file.js';
import { collectWarnings } from '../log/warnings.js';

const PROGRESS_POLL_MS = 400;
const CREATE_TIMEOUT_MS = 310_000;

export interface InterceptOptions {
  connect: DaemonConfig;
  spec: CreateParams['spec'];
  envFile?: { path: string; syntax: EnvSyntax };
  envJson?: string;
  mount?: CreateParams['mount'];
  command?: { command: string; args: string[]; layers: RunLayers; netns?: NetnsMode };
  onProgress?: (message: string) => void;
  warn?: (message: string) => void;
  paths?: DaemonPaths;
}

export interface InterceptResult {
  intercept: InterceptStatus;
  environment: Record<string, string>;
  /** Set when a command ran: its exit code (the intercept was left after it). */
  exitCode?: number;
  warnings: string[];
}

export async function intercept(options: InterceptOptions): Promise<InterceptResult> {
  const paths = options.paths ?? daemonPaths();
  const { warnings, warn } = collectWarnings(options.warn);
  const { alreadyConnected } = await connect(options.connect, paths);
  const created = await withDaemon(paths, async (client) => {
    const progressId = randomUUID();
    let shown = 0;
    const poll = setInterval(() => {
      void client.call<{ lines: string[] }>(InterceptControl.progress, { progressId }).then(({ lines }) => {
        for (; shown < lines.length; shown++) options.onProgress?.(lines[shown]);
      }, () => undefined);
    }, PROGRESS_POLL_MS);
    try {
      return await client.call<InterceptCreateResult & { warning?: string }>(InterceptControl.create, { spec: options.spec, progressId, mount: options.mount } satisfies CreateParams, CREATE_TIMEOUT_MS);
    } finally {
      clearInterval(poll);
    }
  });
  const environment = created.environment;
  if (created.warning) warn(created.warning);
  writeEnvFiles(environment, options, warn);
  const result: InterceptResult = { intercept: describe(created.intercept), environment, warnings };
  if (!options.command) return result;

  try {
    return { ...result, exitCode: await runWithPodEnvironment(options.command, options.connect, paths, environment, warn) };
  } finally {
    await leave(created.intercept.name, paths).catch((err: Error) => warn(`could not leave ${created.intercept.name}: ${err.message}`));
    if (!alreadyConnected) await quit(paths).catch(() => undefined);
  }
}

/** --env-file and --env-json (0600: a pod's environment holds secrets). */
export function writeEnvFiles(environment: Record<string, string>, options: { envFile?: { path: string; syntax: EnvSyntax }; envJson?: string }, warn: (message: string) => void): void {
  if (options.envFile) {
    const { text, skipped } = formatEnv(environment, options.envFile.syntax);
    writeFileSync(options.envFile.path, text, { mode: 0o600 });
    if (skipped.length) warn(`left out of ${options.envFile.path}: ${skipped.join(', ')}`);
  }
  if (options.envJson) writeFileSync(options.envJson, formatEnv(environment, 'json').text, { mode: 0o600 });
}

/** `-- cmd` with the pod's environment, through tp run's layers (or its namespace); its exit code. */
export async function runWithPodEnvironment(command: NonNullable<InterceptOptions['command']>, config: DaemonConfig, paths: DaemonPaths, environment: Record<string, string>, warn: (message: string) => void): Promise<number> {
  const run = await runInCluster({
    command: command.command,
    args: command.args,
    connect: config,
    keepConnected: true,
    layers: command.layers,
    netns: command.netns,
    paths,
    env: { ...process.env, ...withoutLocalOnly(environment) },
    warn,
  });
  return run.exitCode;
}

/** The laptop's own PATH, HOME and such win over the pod's: the command runs here. */
const LOCAL_ONLY = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'PWD', 'TMPDIR', 'LANG', 'HOSTNAME'];

function withoutLocalOnly(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).filter(([name]) => !LOCAL_ONLY.includes(name)));
}

export async function leave(name: string, paths: DaemonPaths = daemonPaths()): Promise<InterceptInfo> {
  const { intercept: info } = await withDaemon(paths, (client) => client.call<{ intercept: InterceptInfo }>(InterceptControl.remove, { name }));
  return info;
}

export async function listWorkloads(config: DaemonConfig, namespace: string | undefined, paths: DaemonPaths = daemonPaths()): Promise<InterceptListResult> {
  await connect(config, paths);
  return withDaemon(paths, (client) => client.call<InterceptListResult>(InterceptControl.list, { namespace }));
}

export async function uninstallAgents(config: DaemonConfig, target: { namespace?: string; workload?: string; all?: boolean }, paths: DaemonPaths = daemonPaths()): Promise<AgentUninstallResult> {
  await connect(config, paths);
  return withDaemon(paths, (client) => client.call<AgentUninstallResult>(InterceptControl.uninstall, target, CREATE_TIMEOUT_MS));
}

export async function withDaemon<T>(paths: DaemonPaths, use: (client: ControlCaller) => Promise<T>): Promise<T> {
  let client: ControlCaller;
  try {
    client = await ControlCaller.connect(paths.controlSocket);
  } catch (err) {
    throw new TpError('TP_ERR_NOT_CONNECTED', 'tp is not connected.', { cause: err, hints: ['Run `tp connect` first.'] });
  }
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

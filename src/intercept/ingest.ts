// What `tp ingest` does, for the thin command: connect when no daemon runs, ask the daemon for an
// ingest (the pod's environment and a live copy of its files, no traffic taken), write the env
// files, and with `-- <cmd>` run the command with that environment through `tp run`'s shims,
// then end the ingest and pass the exit code through. `--leave` ends an ingest started without a
// command.
import { connect, quit } from '../daemon/cli-to-daemon.js';
import type { DaemonConfig } from '../daemon/config.js';
import { daemonPaths, type DaemonPaths } from '../daemon/paths.js';
import type { RunLayers } from '../run/run.js';
import type { NetnsMode } from '../run/netns.js';
import { IngestControl, type IngestCreated, type IngestCreateParams } from './daemon/ingests.js';
import type { EnvSyntax } from './env-file.js';
import { runWithPodEnvironment, withDaemon, writeEnvFiles } from './intercept.js';
import { collectWarnings } from '../log/warnings.js';

const CREATE_TIMEOUT_MS = 310_000;

export interface IngestOptions {
  connect: DaemonConfig;
  params: IngestCreateParams;
  envFile?: { path: string; syntax: EnvSyntax };
  envJson?: string;
  command?: { command: string; args: string[]; layers: RunLayers; netns?: NetnsMode };
  warn?: (message: string) => void;
  paths?: DaemonPaths;
}

export interface IngestCommandResult extends IngestCreated {
  exitCode?: number;
  warnings: string[];
}

export async function ingest(options: IngestOptions): Promise<IngestCommandResult> {
  const paths = options.paths ?? daemonPaths();
  const { warnings, warn } = collectWarnings(options.warn);
  const { alreadyConnected } = await connect(options.connect, paths);
  const created = await withDaemon(paths, (client) => client.call<IngestCreated>(IngestControl.create, options.params, CREATE_TIMEOUT_MS));
  if (created.warning) warn(created.warning);
  writeEnvFiles(created.environment, options, warn);
  const result: IngestCommandResult = { ...created, warnings };
  if (!options.command) return result;
  try {
    return { ...result, exitCode: await runWithPodEnvironment(options.command, options.connect, paths, created.environment, warn) };
  } finally {
    await leaveIngest(options.params, paths).catch((err: Error) => warn(`could not end the ingest of ${options.params.workload}: ${err.message}`));
    if (!alreadyConnected) await quit(paths).catch(() => undefined);
  }
}

export function leaveIngest(params: Pick<IngestCreateParams, 'workload' | 'namespace'>, paths: DaemonPaths = daemonPaths()): Promise<{ removed: string }> {
  return withDaemon(paths, (client) => client.call<{ removed: string }>(IngestControl.remove, params));
}

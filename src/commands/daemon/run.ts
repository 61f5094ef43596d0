import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { runDaemon } from '../../daemon/daemon.js';
import type { DaemonConfig } from '../../daemon/config.js';
import { daemonPaths, ensureDaemonDirs, type DaemonPaths } from '../../daemon/paths.js';
import { startRunFeature } from '../../run/daemon/run-feature.js';
import { startInterceptFeature } from '../../intercept/daemon/intercept-feature.js';
import { logger, logUncaught, setLogLevel, setLogSink } from '../../log/logger.js';
import { RotatingFile } from '../../log/rotating-file.js';
import { growHeapForRelaying } from '../../tunnel/heap-growth.js';

export default class DaemonRun extends TpCommand<void> {
  static summary = 'Run the user daemon in the foreground (tp connect starts it for you).';
  static hidden = true;
  static flags = {
    config: Flags.string({ description: 'The daemon configuration as JSON (from tp connect).', required: true }),
  };

  async execute(): Promise<void> {
    const { flags } = await this.parse(DaemonRun);
    const config = JSON.parse(flags.config) as DaemonConfig;
    const paths = setUpDaemonProcess(config);
    growHeapForRelaying();
    await runDaemon(config, paths, DAEMON_FEATURES);
    // runDaemon returns once started; the control socket and front doors keep the process alive.
    await new Promise<never>(() => undefined);
  }

  render(): string {
    return '';
  }
}

/** The daemon's features, in the order they start: `tp run`'s shim support, then intercepts. */
export const DAEMON_FEATURES = [startRunFeature, startInterceptFeature];

/** The daemon process's files and log (also Docker mode's container entry): it writes its own log so that it can rotate it; the level comes from tp connect. */
export function setUpDaemonProcess(config: DaemonConfig): DaemonPaths {
  const paths = daemonPaths();
  ensureDaemonDirs(paths);
  const file = new RotatingFile(paths.logFile);
  setLogSink((line) => file.write(line));
  if (config.logLevel) setLogLevel(config.logLevel);
  logUncaught(logger('tp:daemon'));
  return paths;
}

import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import type { DaemonConfig } from '../../daemon/config.js';
import { daemonPaths, ensureDaemonDirs } from '../../daemon/paths.js';
import { runEntry, type EntryOptions } from '../../docker/entry.js';
import { startRunFeature } from '../../run/daemon/run-feature.js';
import { startInterceptFeature } from '../../intercept/daemon/intercept-feature.js';
import { logger, logUncaught, setLogLevel, setLogSink } from '../../log/logger.js';
import { RotatingFile } from '../../log/rotating-file.js';

export default class DockerEntry extends TpCommand<void> {
  static summary = 'The process of a Docker-mode container (tp connect --docker starts it): the daemon and its capture relay.';
  static hidden = true;
  static flags = {
    config: Flags.string({ description: 'The daemon configuration as JSON (from tp connect --docker).', required: true }),
    api: Flags.string({ description: 'The loopback API forward as JSON: { port, relayHost, relayPort }.' }),
  };

  async execute(): Promise<void> {
    const { flags } = await this.parse(DockerEntry);
    const config = JSON.parse(flags.config) as DaemonConfig;
    const paths = daemonPaths();
    ensureDaemonDirs(paths);
    const file = new RotatingFile(paths.logFile);
    setLogSink((line) => file.write(line));
    if (config.logLevel) setLogLevel(config.logLevel);
    logUncaught(logger('tp:daemon'));
    const api = flags.api ? (JSON.parse(flags.api) as EntryOptions['api']) : undefined;
    await runEntry({ config, api, features: [startRunFeature, startInterceptFeature] });
    await new Promise<never>(() => undefined);
  }

  render(): string {
    return '';
  }
}

import { Flags } from '@oclif/core';
import createDebug from 'debug';
import { TpCommand } from '../../cli/base-command.js';
import { runDaemon } from '../../daemon/daemon.js';
import type { DaemonConfig } from '../../daemon/launcher.js';
import { daemonPaths, ensureDaemonDirs } from '../../daemon/paths.js';

export default class DaemonRun extends TpCommand<void> {
  static summary = 'Run the user daemon in the foreground (tp connect starts it for you).';
  static hidden = true;
  static flags = {
    config: Flags.string({ description: 'The daemon configuration as JSON (from tp connect).', required: true }),
  };

  async execute(): Promise<void> {
    const { flags } = await this.parse(DaemonRun);
    // The daemon's log is for people debugging a connection: keep tp's own namespaces on.
    if (!process.env.DEBUG) createDebug.enable('tp:*');
    const paths = daemonPaths();
    ensureDaemonDirs(paths);
    await runDaemon(JSON.parse(flags.config) as DaemonConfig, paths);
    // runDaemon returns once started; the control socket and front doors keep the process alive.
    await new Promise<never>(() => undefined);
  }

  render(): string {
    return '';
  }
}

import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import type { DaemonConfig } from '../../daemon/config.js';
import { runEntry, type EntryOptions } from '../../docker/entry.js';
import { DAEMON_FEATURES, setUpDaemonProcess } from '../daemon/run.js';

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
    setUpDaemonProcess(config);
    const api = flags.api ? (JSON.parse(flags.api) as EntryOptions['api']) : undefined;
    await runEntry({ config, api, features: DAEMON_FEATURES });
    await new Promise<never>(() => undefined);
  }

  render(): string {
    return '';
  }
}

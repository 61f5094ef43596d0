import { readFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { runCompanion } from '../../docker/api-relay.js';
import type { ExecPlugin } from '../../docker/credentials.js';

export default class DockerApiRelay extends TpCommand<void> {
  static summary = 'The host\'s companion of a Docker-mode connection: the DNS stub and tp run\'s redirect listener on 127.0.0.1, API relay and exec credentials (tp connect --docker starts it).';
  static hidden = true;
  static flags = {
    listen: Flags.string({ description: 'Address to listen on for the API relay and credentials (the containers\' gateway).' }),
    'dns-port': Flags.integer({ description: 'Serve the DNS stub on 127.0.0.1 at this port (0: a free one), and tp run\'s redirect listener.' }),
    to: Flags.string({ description: 'The API server\'s host:port on this machine, to relay.' }),
    'plugin-file': Flags.string({ description: 'A file with the kubeconfig user\'s exec plugin as JSON, to run for the container.' }),
    'secret-file': Flags.string({ description: 'The file with the secret the container shows for credentials.' }),
    dir: Flags.string({ description: 'The connection\'s folder: the companion ends when it is gone.', required: true }),
  };

  async execute(): Promise<void> {
    const { flags } = await this.parse(DockerApiRelay);
    const doors = flags['dns-port'] === undefined ? undefined : { dnsPort: flags['dns-port'] };
    await runCompanion({ listenHost: flags.listen, doors, to: flags.to, plugin: flags['plugin-file'] ? (JSON.parse(readFileSync(flags['plugin-file'], 'utf8')) as ExecPlugin) : undefined, secretFile: flags['secret-file'], dir: flags.dir });
  }

  render(): string {
    return '';
  }
}

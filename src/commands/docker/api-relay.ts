import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { runApiRelay } from '../../docker/api-relay.js';

export default class DockerApiRelay extends TpCommand<void> {
  static summary = 'Relay a loopback Kubernetes API server to Docker-mode containers (tp connect --docker starts it).';
  static hidden = true;
  static flags = {
    listen: Flags.string({ description: 'Address to listen on (the containers\' gateway).', required: true }),
    to: Flags.string({ description: 'The API server\'s host:port on this machine.', required: true }),
    dir: Flags.string({ description: 'The connection\'s folder: the relay ends when it is gone.', required: true }),
  };

  async execute(): Promise<void> {
    const { flags } = await this.parse(DockerApiRelay);
    await runApiRelay(flags.listen, flags.to, flags.dir);
  }

  render(): string {
    return '';
  }
}

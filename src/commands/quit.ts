import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { quit } from '../daemon/cli-to-daemon.js';
import { chooseConnection } from '../docker/select.js';

interface QuitResult {
  stopped: boolean;
  name?: string;
}

export default class Quit extends TpCommand<QuitResult> {
  static summary = 'Stop the daemon: close the tunnels and the local proxies (a Docker-mode connection: remove its container).';
  static examples = ['<%= config.bin %> quit', '<%= config.bin %> quit --use alpha'];
  static flags = {
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
  };

  async execute(): Promise<QuitResult> {
    const { flags } = await this.parse(Quit);
    const chosen = await chooseConnection(flags.use);
    if (chosen?.kind === 'docker') {
      // Docker mode's code (and what it imports) loads only for a Docker-mode connection.
      const { quitDocker } = await import('../docker/launch.js');
      await quitDocker(chosen.record, chosen.dir);
      return { stopped: true, name: chosen.name };
    }
    return { stopped: await quit() };
  }

  render(result: QuitResult): string {
    if (result.name) return `Disconnected: connection ${result.name} and its container are gone.`;
    return result.stopped ? 'Disconnected: the tp daemon has stopped.' : 'Not connected: no tp daemon was running.';
  }
}

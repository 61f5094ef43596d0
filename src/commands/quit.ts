import { TpCommand } from '../cli/base-command.js';
import { quit } from '../daemon/cli-to-daemon.js';

interface QuitResult {
  stopped: boolean;
}

export default class Quit extends TpCommand<QuitResult> {
  static summary = 'Stop the daemon: close the tunnels and the local proxies.';
  static examples = ['<%= config.bin %> quit'];

  async execute(): Promise<QuitResult> {
    await this.parse(Quit);
    return { stopped: await quit() };
  }

  render(result: QuitResult): string {
    return result.stopped ? 'Disconnected: the tp daemon has stopped.' : 'Not connected: no tp daemon was running.';
  }
}

import { TpCommand } from '../cli/base-command.js';
import { TP_VERSION } from '../version.js';

export interface VersionResult {
  client: string;
  node: string;
  platform: string;
}

export default class Version extends TpCommand<VersionResult> {
  static summary = 'Print the tp client version and the Node.js it runs on.';
  static examples = ['<%= config.bin %> version', '<%= config.bin %> version --output json'];

  async execute(): Promise<VersionResult> {
    await this.parse(Version);
    return { client: TP_VERSION, node: process.version, platform: `${process.platform}/${process.arch}` };
  }

  render(result: VersionResult): string {
    return `tp ${result.client} (node ${result.node}, ${result.platform})`;
  }
}

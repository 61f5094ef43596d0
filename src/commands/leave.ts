import { Args, Flags } from '@oclif/core';
import { daemonPathsFor } from '../docker/select.js';
import { TpCommand } from '../cli/base-command.js';
import { leave } from '../intercept/intercept.js';
import type { InterceptInfo } from '../api/control-api.js';

export default class Leave extends TpCommand<InterceptInfo> {
  static summary = 'End one of your intercepts: its traffic goes back to the pods.';
  static examples = ['<%= config.bin %> leave hello'];
  static args = { name: Args.string({ description: 'The intercept\'s name (tp status lists yours).', required: true }) };
  static flags = {
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
  };

  async execute(): Promise<InterceptInfo> {
    const { args, flags } = await this.parse(Leave);
    return leave(args.name, (await daemonPathsFor(flags.use)).paths);
  }

  render(info: InterceptInfo): string {
    return `Left intercept ${info.name}: ${info.workload.kind}/${info.workload.name} gets its traffic again.`;
  }
}

import { Args } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { leave } from '../intercept/intercept.js';
import type { InterceptInfo } from '../api/control-api.js';

export default class Leave extends TpCommand<InterceptInfo> {
  static summary = 'End one of your intercepts: its traffic goes back to the pods.';
  static examples = ['<%= config.bin %> leave hello'];
  static args = { name: Args.string({ description: 'The intercept\'s name (tp status lists yours).', required: true }) };

  async execute(): Promise<InterceptInfo> {
    const { args } = await this.parse(Leave);
    return leave(args.name);
  }

  render(info: InterceptInfo): string {
    return `Left intercept ${info.name}: ${info.workload.kind}/${info.workload.name} gets its traffic again.`;
  }
}

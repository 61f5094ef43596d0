import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { kubeFlags, managerNamespaceFlag } from '../cli/kube-flags.js';
import { listWorkloads } from '../intercept/intercept.js';
import { daemonPathsFor } from '../docker/select.js';
import type { InterceptListResult } from '../api/control-api.js';

export default class List extends TpCommand<InterceptListResult> {
  static summary = 'List the workloads of a namespace, their traffic-agents and who intercepts them.';
  static examples = ['<%= config.bin %> list', '<%= config.bin %> list -n team --output json'];
  static flags = {
    ...kubeFlags,
    namespace: Flags.string({ char: 'n', description: 'Namespace to list (default: the connected one).' }),
    'manager-namespace': managerNamespaceFlag,
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
  };

  async execute(): Promise<InterceptListResult> {
    const { flags } = await this.parse(List);
    const { paths } = await daemonPathsFor(flags.use);
    return listWorkloads({ kubeconfig: flags.kubeconfig, context: flags.context, managerNamespace: flags['manager-namespace'], alsoProxy: [], neverProxy: [] }, flags.namespace, paths);
  }

  render(result: InterceptListResult): string {
    if (result.workloads.length === 0) return `No workloads in namespace "${result.namespace}".`;
    const lines = [`Namespace ${result.namespace}:`];
    for (const w of result.workloads) {
      const agent = w.agentInstalled ? `agent installed (${w.agentsConnected} connected)` : 'no agent';
      lines.push(`  ${w.kind.toLowerCase()}/${w.name}: ${agent}`);
      for (const i of w.intercepts) {
        const match = i.mode === 'global' ? 'all traffic' : [...Object.entries(i.headers ?? {}).map(([k, v]) => `${k}=${v}`), ...(i.pathPrefix ? [`path ${i.pathPrefix}*`] : [])].join(', ');
        lines.push(`    ${i.name}: ${i.state}, ${i.mode} (${match}) on port ${i.service.portName ?? i.service.port}, held by ${i.client}`);
      }
    }
    return lines.join('\n');
  }
}

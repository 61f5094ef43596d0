import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { kubeFlags, managerNamespaceFlag } from '../cli/kube-flags.js';
import { TpError } from '../errors.js';
import { uninstallAgents } from '../intercept/intercept.js';
import type { AgentUninstallResult } from '../api/control-api.js';

export default class Uninstall extends TpCommand<AgentUninstallResult> {
  static summary = 'Remove traffic-agents: the workload and its Service become exactly what they were.';
  static examples = ['<%= config.bin %> uninstall --agent hello', '<%= config.bin %> uninstall --all-agents -n team'];
  static flags = {
    ...kubeFlags,
    agent: Flags.string({ description: 'The workload whose agent to remove.', exclusive: ['all-agents'] }),
    'all-agents': Flags.boolean({ description: 'Remove every agent in the namespace.' }),
    namespace: Flags.string({ char: 'n', description: 'Namespace of the workloads (default: the connected one).' }),
    'manager-namespace': managerNamespaceFlag,
  };

  async execute(): Promise<AgentUninstallResult> {
    const { flags } = await this.parse(Uninstall);
    if (!flags.agent && !flags['all-agents']) throw new TpError('TP_ERR_UNINSTALL_WHAT', 'Say which agents to remove.', { hints: ['tp uninstall --agent <workload>', 'tp uninstall --all-agents'] });
    const config = { kubeconfig: flags.kubeconfig, context: flags.context, managerNamespace: flags['manager-namespace'], alsoProxy: [], neverProxy: [] };
    return uninstallAgents(config, { namespace: flags.namespace, workload: flags.agent, all: flags['all-agents'] });
  }

  render(result: AgentUninstallResult): string {
    if (result.restored.length === 0) return 'No traffic-agent to remove.';
    const ended = result.removedIntercepts.length ? `\nIntercepts ended: ${result.removedIntercepts.join(', ')}` : '';
    return `Removed the traffic-agent from ${result.restored.join(', ')}.${ended}`;
  }
}

import { TpCommand } from '../../cli/base-command.js';
import { kubeFlags, managerNamespaceFlag } from '../../cli/kube-flags.js';
import { loadKubeConfig } from '../../k8s/kubeconfig.js';
import { uninstallManager } from '../../install/install.js';

interface UninstallResult {
  namespace: string;
  removed: string[];
}

export default class ManagerUninstall extends TpCommand<UninstallResult> {
  static summary = 'Remove the traffic-manager and everything tp manager install made.';
  static examples = ['<%= config.bin %> manager uninstall'];
  static flags = { ...kubeFlags, 'manager-namespace': managerNamespaceFlag };

  async execute(): Promise<UninstallResult> {
    const { flags } = await this.parse(ManagerUninstall);
    return uninstallManager(loadKubeConfig(flags), { namespace: flags['manager-namespace'] });
  }

  render(result: UninstallResult): string {
    if (result.removed.length === 0) return `No traffic-manager was installed in namespace "${result.namespace}".`;
    return `Removed:\n${result.removed.map((r) => `  ${r}`).join('\n')}`;
  }
}

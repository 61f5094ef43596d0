import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { kubeFlags, managerNamespaceFlag } from '../../cli/kube-flags.js';
import { userConfig } from '../../cli/config-file.js';
import { loadKubeConfig } from '../../k8s/kubeconfig.js';
import { installManager, type InstallResult } from '../../install/install.js';
import { chooseImage, IMAGE_ENV, IMAGE_FLAG_DESCRIPTION } from '../../install/manifests.js';

export default class ManagerInstall extends TpCommand<InstallResult> {
  static summary = 'Install the traffic-manager into the cluster and wait until it is ready.';
  static description = 'Applies a namespace, a ServiceAccount with read-only RBAC, the client token Secret, a Deployment and a Service. Safe to run again; --upgrade replaces a manager made by another tp version.';
  static examples = ['<%= config.bin %> manager install', '<%= config.bin %> manager install --upgrade --image registry.example.com/tp:0.2.0'];
  static flags = {
    ...kubeFlags,
    'manager-namespace': managerNamespaceFlag,
    image: Flags.string({ description: IMAGE_FLAG_DESCRIPTION, env: IMAGE_ENV }),
    upgrade: Flags.boolean({ description: 'Replace a traffic-manager installed by another tp version.', default: false }),
    'session-ttl': Flags.integer({ description: 'Seconds a client that went away keeps its session and intercepts (default 60).', min: 1 }),
    timeout: Flags.integer({ description: 'Seconds to wait for the manager to become ready.', default: 120 }),
  };

  async execute(): Promise<InstallResult> {
    const { flags } = await this.parse(ManagerInstall);
    const kc = loadKubeConfig(flags);
    return installManager(kc, {
      namespace: flags['manager-namespace'],
      image: chooseImage(flags.image ?? userConfig().image),
      upgrade: flags.upgrade,
      sessionTtlSeconds: flags['session-ttl'],
      timeoutMs: flags.timeout * 1000,
      onProgress: (message) => {
        if (this.outputFormat === 'text') this.logToStderr(`  ${message}`);
      },
    });
  }

  render(result: InstallResult): string {
    return `traffic-manager ${result.version} is ready in namespace "${result.namespace}" (image ${result.image}).\nNext: tp connect`;
  }
}

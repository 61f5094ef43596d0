import { Flags } from '@oclif/core';
import { dumpYaml } from '@kubernetes/client-node';
import { TpCommand } from '../../cli/base-command.js';
import { managerNamespaceFlag } from '../../cli/kube-flags.js';
import { userConfig } from '../../cli/config-file.js';
import { chooseImage, IMAGE_ENV, IMAGE_FLAG_DESCRIPTION, managerManifests } from '../../install/manifests.js';
import type { KubernetesObject } from '@kubernetes/client-node';

export default class ManagerManifest extends TpCommand<KubernetesObject[]> {
  static summary = 'Print the traffic-manager manifests, for `kubectl apply -f -`.';
  static description = 'The same objects `tp manager install` applies. Each run makes a new client token; applying the output over an installed manager replaces its token, so connected clients must reconnect.';
  static examples = ['<%= config.bin %> manager manifest | kubectl apply -f -', '<%= config.bin %> manager manifest --image registry.example.com/tp:0.1.0 | kubectl apply -f -'];
  static flags = {
    'manager-namespace': managerNamespaceFlag,
    image: Flags.string({ description: IMAGE_FLAG_DESCRIPTION, env: IMAGE_ENV }),
  };

  async execute(): Promise<KubernetesObject[]> {
    const { flags } = await this.parse(ManagerManifest);
    return managerManifests({ namespace: flags['manager-namespace'], image: chooseImage(flags.image ?? userConfig().image) });
  }

  render(objects: KubernetesObject[]): string {
    return objects.map((o) => dumpYaml(o).trimEnd()).join('\n---\n');
  }
}

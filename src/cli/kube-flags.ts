// Flags shared by every command that talks to a cluster, with kubectl's names and meanings.
import { Flags } from '@oclif/core';

export const kubeFlags = {
  kubeconfig: Flags.string({ description: 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).', helpGroup: 'KUBERNETES' }),
  context: Flags.string({ description: 'The kubeconfig context to use (default: the current context).', helpGroup: 'KUBERNETES' }),
};

export const managerNamespaceFlag = Flags.string({
  description: 'Namespace of the traffic-manager.',
  default: 'tp',
  helpGroup: 'KUBERNETES',
});

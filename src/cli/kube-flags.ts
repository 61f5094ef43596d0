// Flags shared by every command that talks to a cluster, with kubectl's names and meanings, and
// the flags of every command that may start the daemon (connect, run, intercept), with the one
// function that turns them into the daemon's configuration.
import { Flags } from '@oclif/core';
import type { DaemonConfig } from '../daemon/launcher.js';

export const kubeFlags = {
  kubeconfig: Flags.string({ description: 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).', helpGroup: 'KUBERNETES' }),
  context: Flags.string({ description: 'The kubeconfig context to use (default: the current context).', helpGroup: 'KUBERNETES' }),
};

export const managerNamespaceFlag = Flags.string({
  description: 'Namespace of the traffic-manager.',
  default: 'tp',
  helpGroup: 'KUBERNETES',
});

/** How the daemon connects; commands other than `tp connect` use them only when they start one. */
export const connectionFlags = {
  ...kubeFlags,
  'manager-namespace': managerNamespaceFlag,
  'manager-url': Flags.string({ description: 'Reach the manager at this ws:// or wss:// URL instead of through the Kubernetes API.', helpGroup: 'CONNECTION' }),
  'also-proxy': Flags.string({ description: 'CIDR or name pattern to reach through the cluster as well.', multiple: true, helpGroup: 'CONNECTION' }),
  'never-proxy': Flags.string({ description: 'CIDR or name pattern that always stays direct.', multiple: true, helpGroup: 'CONNECTION' }),
};

interface ConnectionFlagValues {
  kubeconfig?: string;
  context?: string;
  'manager-namespace': string;
  'manager-url'?: string;
  'also-proxy'?: string[];
  'never-proxy'?: string[];
}

export function daemonConfigFrom(flags: ConnectionFlagValues, extra: Partial<DaemonConfig> = {}): DaemonConfig {
  return {
    kubeconfig: flags.kubeconfig,
    context: flags.context,
    managerNamespace: flags['manager-namespace'],
    managerUrl: flags['manager-url'],
    alsoProxy: flags['also-proxy'] ?? [],
    neverProxy: flags['never-proxy'] ?? [],
    ...extra,
  };
}

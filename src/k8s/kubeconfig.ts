// Loads the user's kubeconfig the way kubectl does ($KUBECONFIG, else ~/.kube/config, else the
// in-cluster service account) and selects a context; a context that does not exist is a clear
// error listing the ones that do, and a context without a user still trusts its cluster's CA. Used by every command that talks to a cluster, the daemon and the manager.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { TpError } from '../errors.js';

export interface KubeConfigOptions {
  /** Path to a kubeconfig file; default as kubectl ($KUBECONFIG or ~/.kube/config). */
  kubeconfig?: string;
  context?: string;
  /** Inside a pod, use its service account even if a kubeconfig exists (the manager and agents). */
  preferInCluster?: boolean;
}

export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else if (options.preferInCluster && process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else if (process.env.KUBECONFIG || existsSync(join(process.env.HOME ?? homedir(), '.kube', 'config')) || process.env.KUBERNETES_SERVICE_HOST) kc.loadFromDefault();
    else throw new Error('no $KUBECONFIG, no ~/.kube/config and not inside a cluster');
  } catch (err) {
    throw new TpError('TP_ERR_KUBECONFIG', `Could not read the kubeconfig: ${(err as Error).message}`, {
      cause: err,
      hints: ['Check $KUBECONFIG or pass --kubeconfig <file>.'],
    });
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new TpError('TP_ERR_UNKNOWN_CONTEXT', `The kubeconfig has no context named "${options.context}".`, {
        hints: known.length > 0 ? [`Use one of: ${known.join(', ')}.`] : ['The kubeconfig has no contexts at all: check $KUBECONFIG.'],
      });
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new TpError('TP_ERR_NO_CLUSTER', 'The kubeconfig names no cluster for the current context.', {
      hints: ['Pick a context with --context, or set one with `kubectl config use-context <name>`.'],
    });
  }
  withEmptyUserIfNone(kc);
  return kc;
}

/**
 * A context without a user still talks TLS to its cluster as kubectl does, with the cluster's CA
 * (and skip-TLS and server-name settings). client-node applies those only when there is a user,
 * so such a context gets an empty one: requests go without credentials, the server sees
 * system:anonymous, and the user gets that answer rather than a certificate error.
 */
function withEmptyUserIfNone(kc: KubeConfig): void {
  const current = kc.getContextObject(kc.getCurrentContext());
  if (!current || kc.getCurrentUser()) return;
  if (current.user) {
    throw new TpError('TP_ERR_KUBECONFIG', `The kubeconfig's context "${current.name}" names user "${current.user}", which is not in the kubeconfig.`, {
      hints: ['Fix the context or add the user: kubectl config view'],
    });
  }
  let name = 'tp-no-credentials';
  while (kc.getUser(name)) name += '-';
  kc.addUser({ name });
  kc.contexts = kc.contexts.map((c) => (c.name === current.name ? { ...c, user: name } : c));
}

/** The namespace of the current context, as kubectl would default it. */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}

// The client's half of the manager's permission check (src/manager/rbac-proof.ts): ask the
// manager for a nonce naming the workloads a create or uninstall would change, then write it onto
// each as an annotation with a PATCH made with the user's own kubeconfig credentials. The API
// server allows that PATCH only if RBAC lets this user patch the workload, which is what the
// manager then checks. A refusal becomes an error naming the missing permission and the
// `kubectl auth can-i` that checks it. Used by daemon/intercept-feature.ts.
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { kubeError, statusCode } from '../k8s/api-errors.js';
import { TpError } from '../errors.js';
import { InterceptMethod, type ChallengeParams, type ChallengeResult, type ProofWorkload } from '../api/control-api.js';

const RESOURCE: Record<ProofWorkload['kind'], string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', ReplicaSet: 'replicasets' };

/** Returns the nonce to send as `proof`, once it is on every workload named. */
export async function proveRight(kc: KubeConfig, request: (method: string, params: unknown) => Promise<unknown>, params: ChallengeParams, doing: string): Promise<string> {
  const challenge = (await request(InterceptMethod.challenge, params)) as ChallengeResult;
  const apps = kc.makeApiClient(AppsV1Api);
  const marked: ProofWorkload[] = [];
  for (const w of challenge.workloads) {
    try {
      await annotate(apps, w, challenge.annotation, challenge.nonce);
      marked.push(w);
    } catch (err) {
      // The manager will not look: take our marks off the workloads we could patch.
      await Promise.allSettled(marked.map((m) => annotate(apps, m, challenge.annotation, null)));
      if (statusCode(err) === 403) throw forbidden(w, doing, err);
      throw kubeError(`marking ${w.kind.toLowerCase()}/${w.name} in namespace ${w.namespace} to prove you may change it`, err);
    }
  }
  return challenge.nonce;
}

/** Sets (or, with null, removes) one annotation with a merge PATCH: RBAC verb `patch`. */
function annotate(apps: AppsV1Api, w: ProofWorkload, key: string, value: string | null): Promise<unknown> {
  const body = { metadata: { annotations: { [key]: value } } };
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const name = w.name;
  const namespace = w.namespace;
  return {
    Deployment: () => apps.patchNamespacedDeployment({ name, namespace, body }, options),
    StatefulSet: () => apps.patchNamespacedStatefulSet({ name, namespace, body }, options),
    ReplicaSet: () => apps.patchNamespacedReplicaSet({ name, namespace, body }, options),
  }[w.kind]();
}

/** What kubectl would say the user lacks, and how to check it. */
export function forbidden(w: ProofWorkload, doing: string, cause?: unknown): TpError {
  const resource = `${RESOURCE[w.kind]}.apps`;
  return new TpError('TP_ERR_INTERCEPT_FORBIDDEN', `You may not ${doing}: your Kubernetes credentials do not allow you to patch ${resource} "${w.name}" in namespace "${w.namespace}", and tp changes a workload only for users who may change it themselves.`, {
    cause,
    hints: [
      `Check with: kubectl auth can-i patch ${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}`,
      `Ask a cluster admin for a Role allowing "patch" on ${resource} in namespace ${w.namespace} (and a RoleBinding to you).`,
    ],
  });
}

// Reading and writing the three workload kinds tp intercepts (Deployment, StatefulSet,
// ReplicaSet) through one small interface, so the injector and uninstall treat them alike.
// Writes are read-modify-replace with a retry on conflict (409), so a controller updating the
// status between our read and our write costs a retry, never a lost change.
import { AppsV1Api, type KubeConfig, type V1Deployment, type V1PodTemplateSpec, type V1ReplicaSet, type V1StatefulSet } from '@kubernetes/client-node';
import { isNotFound, kubeCall, statusCode } from '../k8s/api-errors.js';
import type { WorkloadKind } from '../api/control-api.js';
import { InterceptError, listWords } from './intercept-errors.js';
import { parseWorkloadName, WORKLOAD_KINDS, type WorkloadRef } from './workload-target.js';

export type WorkloadObject = V1Deployment | V1StatefulSet | V1ReplicaSet;

export interface Workload extends WorkloadRef {
  object: WorkloadObject;
}

const CONFLICT_RETRIES = 5;

export class WorkloadApi {
  private readonly apps: AppsV1Api;

  constructor(kc: KubeConfig) {
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  async read(kind: WorkloadKind, name: string, namespace: string): Promise<WorkloadObject | null> {
    try {
      const call = { Deployment: () => this.apps.readNamespacedDeployment({ name, namespace }), StatefulSet: () => this.apps.readNamespacedStatefulSet({ name, namespace }), ReplicaSet: () => this.apps.readNamespacedReplicaSet({ name, namespace }) }[kind];
      return await call();
    } catch (err) {
      if (isNotFound(err)) return null;
      return kubeCall(`reading ${kind} ${namespace}/${name}`, () => Promise.reject(err));
    }
  }

  /** All workloads of the namespace (every namespace when null); ReplicaSets owned by a Deployment are left out. */
  async list(namespace: string | null): Promise<Workload[]> {
    const ns = namespace ?? undefined;
    const [deployments, statefulSets, replicaSets] = await kubeCall(`listing workloads${ns ? ` in namespace ${ns}` : ''}`, () =>
      Promise.all([
        ns ? this.apps.listNamespacedDeployment({ namespace: ns }) : this.apps.listDeploymentForAllNamespaces(),
        ns ? this.apps.listNamespacedStatefulSet({ namespace: ns }) : this.apps.listStatefulSetForAllNamespaces(),
        ns ? this.apps.listNamespacedReplicaSet({ namespace: ns }) : this.apps.listReplicaSetForAllNamespaces(),
      ]),
    );
    const wrap = (kind: WorkloadKind, object: WorkloadObject): Workload => ({ kind, name: object.metadata!.name!, namespace: object.metadata!.namespace!, object });
    return [
      ...deployments.items.map((o) => wrap('Deployment', o)),
      ...statefulSets.items.map((o) => wrap('StatefulSet', o)),
      ...replicaSets.items.filter((o) => !(o.metadata?.ownerReferences ?? []).some((r) => r.kind === 'Deployment')).map((o) => wrap('ReplicaSet', o)),
    ];
  }

  /** `name` or `Kind/name`; a missing workload is an error that lists the ones there are. */
  async find(namespace: string, text: string): Promise<Workload> {
    const { kind, name } = parseWorkloadName(text);
    for (const k of kind ? [kind] : WORKLOAD_KINDS) {
      const object = await this.read(k, name, namespace);
      if (object) return { kind: k, name, namespace, object };
    }
    const existing = (await this.list(namespace)).map((w) => `${w.kind.toLowerCase()}/${w.name}`);
    throw new InterceptError('TP_ERR_INTERCEPT_NO_WORKLOAD', `No ${kind ?? 'Deployment, StatefulSet or ReplicaSet'} named "${name}" in namespace "${namespace}". Workloads there: ${listWords(existing)}.`);
  }

  /** Applies `change` to the freshest copy (it returns null for "nothing to do"); retries on conflict. */
  async update(workload: WorkloadRef, change: (object: WorkloadObject) => WorkloadObject | null): Promise<WorkloadObject | null> {
    const { kind, name, namespace } = workload;
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(kind, name, namespace);
      if (!current) throw new InterceptError('TP_ERR_INTERCEPT_NO_WORKLOAD', `${kind} ${namespace}/${name} is gone.`);
      const body = change(structuredClone(current));
      if (!body) return null;
      try {
        const replace = {
          Deployment: () => this.apps.replaceNamespacedDeployment({ name, namespace, body: body as V1Deployment }),
          StatefulSet: () => this.apps.replaceNamespacedStatefulSet({ name, namespace, body: body as V1StatefulSet }),
          ReplicaSet: () => this.apps.replaceNamespacedReplicaSet({ name, namespace, body: body as V1ReplicaSet }),
        }[kind];
        return await replace();
      } catch (err) {
        if (statusCode(err) === 409 && attempt < CONFLICT_RETRIES) continue;
        return kubeCall(`updating ${kind} ${namespace}/${name}`, () => Promise.reject(err));
      }
    }
  }
}

export function templateOf(object: WorkloadObject): V1PodTemplateSpec {
  return object.spec!.template!;
}

export function selectorOf(object: WorkloadObject): string {
  const labels = object.spec?.selector?.matchLabels ?? templateOf(object).metadata?.labels ?? {};
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

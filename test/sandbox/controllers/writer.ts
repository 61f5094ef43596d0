// The controllers' writes to the API: creates, merge patches (spec and the status subresource),
// replaces and deletes, through client-node's typed APIs. One place so that every controller sends
// the same patch content type and treats "already gone" the same way. Reads come from the watch
// caches, never from here. Used by every controller here.
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Endpoints,
  type V1EndpointSlice,
  type V1Pod,
  type V1ReplicaSet,
} from '@kubernetes/client-node';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export type PatchTarget = 'deployments' | 'replicasets' | 'statefulsets';

export class Writer {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly discovery: DiscoveryV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.core.createNamespacedPod({ namespace, body: pod });
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.core.deleteNamespacedPod({ namespace, name }));
  }

  createReplicaSet(namespace: string, rs: V1ReplicaSet): Promise<V1ReplicaSet> {
    return this.apps.createNamespacedReplicaSet({ namespace, body: rs });
  }

  async deleteReplicaSet(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.apps.deleteNamespacedReplicaSet({ namespace, name, propagationPolicy: 'Background' }));
  }

  /** A JSON merge patch of a workload's main resource (spec, metadata). */
  async patch(target: PatchTarget, namespace: string, name: string, body: object): Promise<void> {
    if (target === 'deployments') await this.apps.patchNamespacedDeployment({ namespace, name, body }, MERGE_PATCH);
    else if (target === 'replicasets') await this.apps.patchNamespacedReplicaSet({ namespace, name, body }, MERGE_PATCH);
    else await this.apps.patchNamespacedStatefulSet({ namespace, name, body }, MERGE_PATCH);
  }

  /** A JSON merge patch of a workload's status subresource; a vanished object is not an error. */
  async patchStatus(target: PatchTarget, namespace: string, name: string, status: object): Promise<void> {
    const body = { status };
    if (target === 'deployments') await ignoreNotFound(this.apps.patchNamespacedDeploymentStatus({ namespace, name, body }, MERGE_PATCH));
    else if (target === 'replicasets') await ignoreNotFound(this.apps.patchNamespacedReplicaSetStatus({ namespace, name, body }, MERGE_PATCH));
    else await ignoreNotFound(this.apps.patchNamespacedStatefulSetStatus({ namespace, name, body }, MERGE_PATCH));
  }

  createEndpoints(namespace: string, body: V1Endpoints): Promise<V1Endpoints> {
    return this.core.createNamespacedEndpoints({ namespace, body });
  }

  replaceEndpoints(namespace: string, name: string, body: V1Endpoints): Promise<V1Endpoints> {
    return this.core.replaceNamespacedEndpoints({ namespace, name, body });
  }

  async deleteEndpoints(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.core.deleteNamespacedEndpoints({ namespace, name }));
  }

  createEndpointSlice(namespace: string, body: V1EndpointSlice): Promise<V1EndpointSlice> {
    return this.discovery.createNamespacedEndpointSlice({ namespace, body });
  }

  replaceEndpointSlice(namespace: string, name: string, body: V1EndpointSlice): Promise<V1EndpointSlice> {
    return this.discovery.replaceNamespacedEndpointSlice({ namespace, name, body });
  }

  async deleteEndpointSlice(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.discovery.deleteNamespacedEndpointSlice({ namespace, name }));
  }
}

export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 404;
}

export function isConflict(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 409;
}

async function ignoreNotFound(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

// What controllers ask of a pod: is it active (counts toward replicas), ready, available (ready for
// minReadySeconds), and who controls it. The same rules as kube-controller-manager's
// controller_utils, reduced to the fields the sandbox's kubelet sets. Used by every controller here.
import type { KubernetesObject, V1OwnerReference, V1Pod } from '@kubernetes/client-node';

/** A pod counts toward a controller's replicas until it is terminating or has finished. */
export function isPodActive(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Milliseconds left until a ready pod counts as available; 0 = available now, undefined = not ready. */
export function msUntilAvailable(pod: V1Pod, minReadySeconds: number, now = Date.now()): number | undefined {
  if (!isPodReady(pod)) return undefined;
  if (minReadySeconds <= 0) return 0;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const since = timeOf(ready?.lastTransitionTime);
  if (since === undefined) return 0;
  return Math.max(0, since + minReadySeconds * 1000 - now);
}

export function isPodAvailable(pod: V1Pod, minReadySeconds: number, now = Date.now()): boolean {
  return msUntilAvailable(pod, minReadySeconds, now) === 0;
}

/** Timestamps arrive as Date from typed lists and as strings from watch events. */
export function timeOf(value: Date | string | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export function controllerRef(obj: KubernetesObject): V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

export function isControlledBy(obj: KubernetesObject, owner: KubernetesObject): boolean {
  return controllerRef(obj)?.uid !== undefined && controllerRef(obj)?.uid === owner.metadata?.uid;
}

export function ownerReferenceTo(owner: KubernetesObject, apiVersion: string, kind: string): V1OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

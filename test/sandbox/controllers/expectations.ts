// What a controller has just created or deleted but its watch cache does not show yet. Without it a
// second reconcile, run before the watch event arrives, would create or delete the same pods again
// (Kubernetes calls these "expectations"). The view is the cache with pending deletions taken out
// and pending creations put in; an entry ends when the watch event for it arrives (observe), or
// after a timeout, so a lost event cannot stall a controller. Used by the ReplicaSet and StatefulSet controllers.
import type { V1Pod } from '@kubernetes/client-node';

const EXPECTATION_TIMEOUT_MS = 30_000;

interface Pending {
  created: Map<string, { pod: V1Pod; at: number }>;
  deleted: Map<string, number>;
}

export class PodExpectations {
  private readonly byOwner = new Map<string, Pending>();

  created(ownerKey: string, pod: V1Pod): void {
    this.entry(ownerKey).created.set(pod.metadata?.name ?? '', { pod, at: Date.now() });
  }

  deleted(ownerKey: string, podName: string): void {
    this.entry(ownerKey).deleted.set(podName, Date.now());
  }

  /** A watch event for one of the owner's pods: whatever was expected of it has now happened. */
  observe(ownerKey: string, pod: V1Pod, event: 'add' | 'update' | 'delete'): void {
    const pending = this.byOwner.get(ownerKey);
    if (!pending) return;
    const name = pod.metadata?.name ?? '';
    pending.created.delete(name);
    if (event === 'delete' || pod.metadata?.deletionTimestamp) pending.deleted.delete(name);
  }

  forget(ownerKey: string): void {
    this.byOwner.delete(ownerKey);
  }

  /** The owner's pods as they will be once the pending writes show up in the cache. */
  view(ownerKey: string, cached: V1Pod[], now = Date.now()): V1Pod[] {
    const pending = this.byOwner.get(ownerKey);
    if (!pending) return cached;
    const cachedByName = new Map(cached.map((pod) => [pod.metadata?.name ?? '', pod]));
    for (const [name, { at }] of pending.created) {
      // In the cache already (its event may even have come before the create call returned).
      if (cachedByName.has(name) || now - at > EXPECTATION_TIMEOUT_MS) pending.created.delete(name);
    }
    for (const [name, at] of pending.deleted) {
      const pod = cachedByName.get(name);
      if (!pod || pod.metadata?.deletionTimestamp || now - at > EXPECTATION_TIMEOUT_MS) pending.deleted.delete(name);
    }
    if (pending.created.size === 0 && pending.deleted.size === 0) this.byOwner.delete(ownerKey);
    const view = cached.filter((pod) => !pending.deleted.has(pod.metadata?.name ?? ''));
    for (const { pod } of pending.created.values()) view.push(pod);
    return view;
  }

  private entry(ownerKey: string): Pending {
    let pending = this.byOwner.get(ownerKey);
    if (!pending) {
      pending = { created: new Map(), deleted: new Map() };
      this.byOwner.set(ownerKey, pending);
    }
    return pending;
  }
}

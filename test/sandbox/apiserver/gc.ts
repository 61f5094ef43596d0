// Garbage collection through ownerReferences, done synchronously at delete time: Background
// deletes the owner then its dependents, Foreground deletes dependents first, Orphan removes the
// owner's reference from dependents and keeps them. A dependent with another owner that still
// exists keeps living and only loses the reference, as upstream's collector does.
// Leaves out: blockOwnerDeletion waits and the foregroundDeletion finalizer dance.
// Used by server.ts, which composes these hooks with registry/lifecycle.ts.
import type { LifecycleHooks, ObjectRegistry, PropagationPolicy } from './registry/objects.js';
import type { KindInfo } from './registry/kinds.js';
import type { K8sObject } from './store.js';

function dependentsOf(registry: ObjectRegistry, owner: K8sObject): { kind: KindInfo; object: K8sObject }[] {
  const uid = owner.metadata.uid;
  return [...registry.allObjects()].filter(({ object }) =>
    (object.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid) &&
    (owner.metadata.namespace === undefined || object.metadata.namespace === owner.metadata.namespace || object.metadata.namespace === undefined));
}

function uidExists(registry: ObjectRegistry, uid: string): boolean {
  for (const { object } of registry.allObjects()) if (object.metadata.uid === uid) return true;
  return false;
}

function collect(registry: ObjectRegistry, owner: K8sObject, policy: PropagationPolicy): void {
  for (const { kind, object } of dependentsOf(registry, owner)) {
    const current = registry.find(kind, object.metadata.namespace, object.metadata.name ?? '');
    if (!current) continue;
    const others = (current.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== owner.metadata.uid);
    if (policy === 'Orphan' || others.some((ref) => uidExists(registry, ref.uid))) {
      const next = structuredClone(current);
      next.metadata.ownerReferences = others;
      if (others.length === 0) delete next.metadata.ownerReferences;
      registry.commitUpdate(kind, current, next);
    } else {
      registry.delete(kind, current.metadata.namespace, current.metadata.name ?? '', { propagationPolicy: policy });
    }
  }
}

export function garbageCollectorHooks(registry: ObjectRegistry): LifecycleHooks {
  return {
    beforeDelete(_kind, object, policy) {
      if (policy === 'Foreground') collect(registry, object, 'Foreground');
    },
    afterDelete(_kind, object, policy) {
      if (policy !== 'Foreground') collect(registry, object, policy);
    },
  };
}

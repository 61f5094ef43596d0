// The ReplicaSet controller: keeps spec.replicas active pods per ReplicaSet, created from its
// template with generateName `<rs>-` and a controller ownerReference, replacing pods that are
// deleted or fail, removing the least useful pods first on scale-down (unscheduled, then not
// running, then not ready, then the newest), and writing status (replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas, observedGeneration). A pod create the API refuses (Pod Security,
// quota) becomes a FailedCreate Warning event on the ReplicaSet and its ReplicaFailure condition,
// cleared once creates succeed again. Leaves out adopting orphan pods and
// releasing pods whose labels stop matching. Started by controllers/index.ts.
import type { V1Pod, V1ReplicaSet, V1ReplicaSetStatus } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Caches } from './caches.js';
import { PodExpectations } from './expectations.js';
import { apiErrorMessage, type EventRecorder } from './events.js';
import { controllerRef, isControlledBy, isPodActive, isPodReady, keyOf, msUntilAvailable, ownerReferenceTo, splitKey, timeOf } from './pods.js';
import { WorkQueue } from './work-queue.js';
import type { Writer } from './writer.js';

const log = createDebug('tp:sandbox:replicaset');
/** At most this many pods are created or deleted per reconcile, like the real controller's burst. */
const MAX_BURST = 50;

export class ReplicaSetController {
  private readonly queue: WorkQueue;
  private readonly expectations = new PodExpectations();

  constructor(
    private readonly caches: Caches,
    private readonly writer: Writer,
    private readonly events: EventRecorder,
  ) {
    this.queue = new WorkQueue('replicaset', (key) => this.reconcile(key));
    caches.replicaSets.onChange((rs) => this.queue.add(keyOf(rs)));
    caches.pods.onChange((pod, event) => {
      const ref = controllerRef(pod);
      if (ref?.kind !== 'ReplicaSet') return;
      const key = `${pod.metadata?.namespace}/${ref.name}`;
      this.expectations.observe(key, pod, event);
      this.queue.add(key);
    });
  }

  resync(): void {
    for (const rs of this.caches.replicaSets.list()) this.queue.add(keyOf(rs));
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const rs = this.caches.replicaSets.get(name, namespace);
    if (!rs || rs.metadata?.deletionTimestamp) {
      this.expectations.forget(key);
      return;
    }
    const owned = this.caches.pods.list(namespace).filter((pod) => isControlledBy(pod, rs));
    const pods = this.expectations.view(key, owned);
    for (const failed of pods.filter((pod) => pod.status?.phase === 'Failed' && !pod.metadata?.deletionTimestamp)) {
      log('-> %s: deleting failed pod %s', key, failed.metadata?.name);
      await this.writer.deletePod(namespace, failed.metadata?.name ?? '');
      this.expectations.deleted(key, failed.metadata?.name ?? '');
    }
    const active = pods.filter(isPodActive);
    await this.writeStatus(rs, active);

    const desired = rs.spec?.replicas ?? 1;
    const diff = active.length - desired;
    if (diff < 0) {
      try {
        for (let i = 0; i < Math.min(-diff, MAX_BURST); i++) {
          const created = await this.writer.createPod(namespace, podFromTemplate(rs));
          log('-> %s: created pod %s', key, created.metadata?.name);
          this.expectations.created(key, created);
        }
      } catch (error) {
        await this.failedCreate(rs, apiErrorMessage(error));
        throw error;
      }
    } else if (diff > 0) {
      for (const pod of active.sort(deletionOrder).slice(0, Math.min(diff, MAX_BURST))) {
        log('-> %s: deleting surplus pod %s', key, pod.metadata?.name);
        await this.writer.deletePod(namespace, pod.metadata?.name ?? '');
        this.expectations.deleted(key, pod.metadata?.name ?? '');
      }
    }
    await this.setReplicaFailure(rs, undefined);
  }

  /** A refused pod create, as the real controller reports it: a FailedCreate event and the ReplicaFailure condition. */
  private async failedCreate(rs: V1ReplicaSet, message: string): Promise<void> {
    log('!! %s/%s: cannot create pods: %s', rs.metadata?.namespace, rs.metadata?.name, message);
    await this.events.warning({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: rs.metadata }, 'FailedCreate', `Error creating: ${message}`);
    await this.setReplicaFailure(rs, message);
  }

  /** Sets (message) or clears (undefined) status condition ReplicaFailure/FailedCreate; writes only on a change. */
  private async setReplicaFailure(rs: V1ReplicaSet, message: string | undefined): Promise<void> {
    const conditions = rs.status?.conditions ?? [];
    const current = conditions.find((c) => c.type === 'ReplicaFailure');
    if (message === undefined ? !current : current) return;
    const others = conditions.filter((c) => c.type !== 'ReplicaFailure');
    const next = message === undefined ? others
      : [...others, { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message, lastTransitionTime: new Date() }];
    await this.writer.patchStatus('replicasets', rs.metadata?.namespace ?? '', rs.metadata?.name ?? '', { conditions: next });
  }

  private async writeStatus(rs: V1ReplicaSet, active: V1Pod[]): Promise<void> {
    const minReadySeconds = rs.spec?.minReadySeconds ?? 0;
    const templateLabels = rs.spec?.template?.metadata?.labels ?? {};
    let available = 0;
    let soonest: number | undefined;
    for (const pod of active) {
      const wait = msUntilAvailable(pod, minReadySeconds);
      if (wait === 0) available++;
      else if (wait !== undefined) soonest = Math.min(soonest ?? wait, wait);
    }
    if (soonest !== undefined) this.queue.addAfter(keyOf(rs), soonest + 50);
    const status: V1ReplicaSetStatus = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((pod) => Object.entries(templateLabels).every(([k, v]) => pod.metadata?.labels?.[k] === v)).length,
      readyReplicas: active.filter(isPodReady).length,
      availableReplicas: available,
      observedGeneration: rs.metadata?.generation ?? 0,
    };
    const current = rs.status ?? { replicas: 0 };
    const unchanged = (Object.keys(status) as (keyof V1ReplicaSetStatus)[]).every((k) => (current[k] ?? 0) === status[k]);
    if (unchanged) return;
    await this.writer.patchStatus('replicasets', rs.metadata?.namespace ?? '', rs.metadata?.name ?? '', status);
  }
}

export function podFromTemplate(rs: V1ReplicaSet): V1Pod {
  const template = rs.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata?.name}-`,
      namespace: rs.metadata?.namespace,
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: template.metadata?.annotations ? { ...template.metadata.annotations } : undefined,
      ownerReferences: [ownerReferenceTo(rs, 'apps/v1', 'ReplicaSet')],
    },
    spec: structuredClone(template.spec ?? { containers: [] }),
  };
}

/** Sorts pods so the ones to delete first come first: unscheduled, pending, unready, newest. */
function deletionOrder(a: V1Pod, b: V1Pod): number {
  const rank = (pod: V1Pod): number[] => [
    pod.spec?.nodeName ? 1 : 0,
    pod.status?.phase === 'Running' ? 1 : 0,
    isPodReady(pod) ? 1 : 0,
    -(timeOf(pod.metadata?.creationTimestamp) ?? 0),
  ];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
  return 0;
}

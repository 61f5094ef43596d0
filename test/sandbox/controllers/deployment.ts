// The Deployment controller: one ReplicaSet per pod template (named `<deployment>-<hash>`, with
// the pod-template-hash label in its selector and template), revisions in the
// `deployment.kubernetes.io/revision` annotation, RollingUpdate (maxSurge/maxUnavailable, see
// rollout-math.ts) and Recreate strategies, scaling through spec.replicas (which /scale changes),
// cleanup of old ReplicaSets past revisionHistoryLimit, and the status `kubectl rollout status`
// reads (see deployment-status.ts). Leaves out proportional scaling of several live ReplicaSets in
// mid-rollout (the new one takes the change), pausing beyond "do nothing", and hash collisions.
// Started by controllers/index.ts.
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Caches } from './caches.js';
import { deploymentStatus } from './deployment-status.js';
import { controllerRef, isControlledBy, isPodActive, keyOf, ownerReferenceTo, splitKey, timeOf } from './pods.js';
import { nextNewReplicas, oldScaleDownBudget, surgeAndUnavailable, type RsCounts } from './rollout-math.js';
import { templateHash } from './template-hash.js';
import { WorkQueue } from './work-queue.js';
import { isConflict, type Writer } from './writer.js';

const log = createDebug('tp:sandbox:deployment');
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const HASH_LABEL = 'pod-template-hash';
const DEFAULT_REVISION_HISTORY_LIMIT = 10;

export class DeploymentController {
  private readonly queue: WorkQueue;

  constructor(
    private readonly caches: Caches,
    private readonly writer: Writer,
  ) {
    this.queue = new WorkQueue('deployment', (key) => this.reconcile(key));
    caches.deployments.onChange((d) => this.queue.add(keyOf(d)));
    caches.replicaSets.onChange((rs) => this.enqueueOwner(rs));
    caches.pods.onChange((pod) => {
      // Recreate waits for old pods to be gone, so pod deletions matter to the Deployment too.
      const ref = controllerRef(pod);
      if (ref?.kind !== 'ReplicaSet') return;
      const rs = this.caches.replicaSets.get(ref.name, pod.metadata?.namespace);
      if (rs) this.enqueueOwner(rs);
    });
  }

  resync(): void {
    for (const d of this.caches.deployments.list()) this.queue.add(keyOf(d));
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private enqueueOwner(rs: V1ReplicaSet): void {
    const ref = controllerRef(rs);
    if (ref?.kind === 'Deployment') this.queue.add(`${rs.metadata?.namespace}/${ref.name}`);
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const d = this.caches.deployments.get(name, namespace);
    if (!d || d.metadata?.deletionTimestamp) return;
    const owned = this.caches.replicaSets.list(namespace).filter((rs) => isControlledBy(rs, d) && !rs.metadata?.deletionTimestamp);
    const hash = templateHash(d.spec?.template);
    let newRs = owned.find((rs) => rs.metadata?.labels?.[HASH_LABEL] === hash);
    const oldRs = owned.filter((rs) => rs !== newRs).sort(byRevision);
    const desired = d.spec?.replicas ?? 1;
    const maxOldRevision = Math.max(0, ...oldRs.map(revisionOf));

    if (!d.spec?.paused) {
      if (d.spec?.strategy?.type === 'Recreate') {
        newRs = await this.recreate(d, hash, newRs, oldRs, desired, maxOldRevision);
      } else {
        newRs = await this.rollingUpdate(d, hash, newRs, oldRs, desired, maxOldRevision);
      }
    }
    let revision = newRs ? revisionOf(newRs) : undefined;
    if (newRs && revision !== undefined && revision <= maxOldRevision) {
      // An old template came back (a rollback): it becomes the newest revision again.
      revision = maxOldRevision + 1;
      await this.writer.patch('replicasets', namespace, newRs.metadata?.name ?? '', { metadata: { annotations: { [REVISION_ANNOTATION]: String(revision) } } });
    }
    if (revision !== undefined && d.metadata?.annotations?.[REVISION_ANNOTATION] !== String(revision)) {
      await this.writer.patch('deployments', namespace, name, { metadata: { annotations: { [REVISION_ANNOTATION]: String(revision) } } });
    }
    await this.cleanUpHistory(d, newRs, oldRs);
    const status = deploymentStatus(d, newRs, oldRs);
    if (status) await this.writer.patchStatus('deployments', namespace, name, status);
  }

  private async rollingUpdate(d: V1Deployment, hash: string, newRs: V1ReplicaSet | undefined, oldRs: V1ReplicaSet[], desired: number, maxOldRevision: number): Promise<V1ReplicaSet | undefined> {
    const { surge, unavailable } = surgeAndUnavailable(desired, d.spec?.strategy?.rollingUpdate?.maxSurge, d.spec?.strategy?.rollingUpdate?.maxUnavailable);
    const olds = oldRs.map(counts);
    if (!newRs) {
      const replicas = olds.length === 0 ? desired : nextNewReplicas(desired, surge, { replicas: 0, available: 0 }, olds);
      return this.createNewRs(d, hash, replicas, maxOldRevision);
    }
    const next = nextNewReplicas(desired, surge, counts(newRs), olds);
    if (next !== (newRs.spec?.replicas ?? 0)) {
      await this.scale(newRs, next);
      return newRs;
    }
    const budget = oldScaleDownBudget(desired, unavailable, counts(newRs), olds);
    let unhealthy = budget.unhealthy;
    let healthy = budget.healthy;
    for (const rs of oldRs) {
      const c = counts(rs);
      const cutUnhealthy = Math.min(unhealthy, Math.max(0, c.replicas - c.available));
      unhealthy -= cutUnhealthy;
      const cutHealthy = Math.min(healthy, c.replicas - cutUnhealthy);
      healthy -= cutHealthy;
      if (cutUnhealthy + cutHealthy > 0) await this.scale(rs, c.replicas - cutUnhealthy - cutHealthy);
    }
    return newRs;
  }

  private async recreate(d: V1Deployment, hash: string, newRs: V1ReplicaSet | undefined, oldRs: V1ReplicaSet[], desired: number, maxOldRevision: number): Promise<V1ReplicaSet | undefined> {
    let scaledDown = false;
    for (const rs of oldRs) {
      if ((rs.spec?.replicas ?? 0) > 0) {
        await this.scale(rs, 0);
        scaledDown = true;
      }
    }
    if (scaledDown) return newRs;
    const oldUids = new Set(oldRs.map((rs) => rs.metadata?.uid));
    const oldPodsLeft = this.caches.pods.list(d.metadata?.namespace).some((pod) => oldUids.has(controllerRef(pod)?.uid) && isPodActive(pod));
    if (oldPodsLeft) return newRs;
    if (!newRs) return this.createNewRs(d, hash, desired, maxOldRevision);
    if ((newRs.spec?.replicas ?? 0) !== desired) await this.scale(newRs, desired);
    return newRs;
  }

  private async createNewRs(d: V1Deployment, hash: string, replicas: number, maxOldRevision: number): Promise<V1ReplicaSet | undefined> {
    const namespace = d.metadata?.namespace ?? '';
    const template = structuredClone(d.spec?.template ?? {});
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec?.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [HASH_LABEL]: hash };
    const rs: V1ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata?.name}-${hash}`,
        namespace,
        labels: { ...(template.metadata.labels ?? {}) },
        annotations: { [REVISION_ANNOTATION]: String(maxOldRevision + 1), 'deployment.kubernetes.io/desired-replicas': String(d.spec?.replicas ?? 1) },
        ownerReferences: [ownerReferenceTo(d, 'apps/v1', 'Deployment')],
      },
      spec: { replicas, minReadySeconds: d.spec?.minReadySeconds, selector, template },
    };
    try {
      const created = await this.writer.createReplicaSet(namespace, rs);
      log('-> %s: created ReplicaSet %s with %d replicas', keyOf(d), created.metadata?.name, replicas);
      return created;
    } catch (error) {
      // Already there: the cache lags behind; the watch event brings it and another reconcile.
      if (isConflict(error)) return undefined;
      throw error;
    }
  }

  private async scale(rs: V1ReplicaSet, replicas: number): Promise<void> {
    log('-> scaling ReplicaSet %s from %d to %d', keyOf(rs), rs.spec?.replicas ?? 0, replicas);
    await this.writer.patch('replicasets', rs.metadata?.namespace ?? '', rs.metadata?.name ?? '', { spec: { replicas } });
  }

  private async cleanUpHistory(d: V1Deployment, newRs: V1ReplicaSet | undefined, oldRs: V1ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    const idle = oldRs.filter((rs) => rs !== newRs && (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0);
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      log('-> %s: deleting old ReplicaSet %s (history limit %d)', keyOf(d), rs.metadata?.name, limit);
      await this.writer.deleteReplicaSet(rs.metadata?.namespace ?? '', rs.metadata?.name ?? '');
    }
  }
}

export function revisionOf(rs: V1ReplicaSet): number {
  const n = Number(rs.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function byRevision(a: V1ReplicaSet, b: V1ReplicaSet): number {
  return revisionOf(a) - revisionOf(b) || (timeOf(a.metadata?.creationTimestamp) ?? 0) - (timeOf(b.metadata?.creationTimestamp) ?? 0);
}

function counts(rs: V1ReplicaSet): RsCounts {
  return { replicas: rs.spec?.replicas ?? 0, available: rs.status?.availableReplicas ?? 0 };
}

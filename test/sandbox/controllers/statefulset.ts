// The StatefulSet controller: pods `<name>-0` … `<name>-(N-1)` with stable names, hostname and
// subdomain (serviceName) set so cluster DNS gives each pod a name, created in order with
// OrderedReady (the next one only when every lower one is Ready) or all at once with Parallel,
// removed from the highest ordinal down, and on a template change replaced from the highest
// ordinal down one at a time (RollingUpdate, honouring partition). Revisions are
// `<name>-<template hash>` in the controller-revision-hash label; status carries replicas,
// readyReplicas, availableReplicas, currentReplicas, updatedReplicas, currentRevision,
// updateRevision and observedGeneration. Leaves out ControllerRevision objects (and so rollback by
// revision), volumeClaimTemplates and maxUnavailable. Started by controllers/index.ts.
import type { V1Pod, V1StatefulSet, V1StatefulSetStatus } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Caches } from './caches.js';
import { PodExpectations } from './expectations.js';
import { apiErrorMessage, type EventRecorder } from './events.js';
import { controllerRef, isControlledBy, isPodActive, isPodAvailable, isPodReady, keyOf, ownerReferenceTo, splitKey } from './pods.js';
import { templateHash } from './template-hash.js';
import { WorkQueue } from './work-queue.js';
import { isConflict, type Writer } from './writer.js';

const log = createDebug('tp:sandbox:statefulset');
export const REVISION_LABEL = 'controller-revision-hash';
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

export class StatefulSetController {
  private readonly queue: WorkQueue;
  private readonly expectations = new PodExpectations();

  constructor(
    private readonly caches: Caches,
    private readonly writer: Writer,
    private readonly events: EventRecorder,
  ) {
    this.queue = new WorkQueue('statefulset', (key) => this.reconcile(key));
    caches.statefulSets.onChange((sts) => this.queue.add(keyOf(sts)));
    caches.pods.onChange((pod, event) => {
      const ref = controllerRef(pod);
      if (ref?.kind !== 'StatefulSet') return;
      const key = `${pod.metadata?.namespace}/${ref.name}`;
      this.expectations.observe(key, pod, event);
      this.queue.add(key);
    });
  }

  resync(): void {
    for (const sts of this.caches.statefulSets.list()) this.queue.add(keyOf(sts));
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const sts = this.caches.statefulSets.get(name, namespace);
    if (!sts || sts.metadata?.deletionTimestamp) {
      this.expectations.forget(key);
      return;
    }
    const pods = this.expectations.view(key, this.caches.pods.list(namespace).filter((pod) => isControlledBy(pod, sts)));
    const byOrdinal = new Map<number, V1Pod>();
    for (const pod of pods) {
      const ordinal = ordinalOf(sts, pod);
      if (ordinal !== undefined) byOrdinal.set(ordinal, pod);
    }
    const updateRevision = `${name}-${templateHash(sts.spec?.template)}`;
    await this.writeStatus(sts, [...byOrdinal.values()], updateRevision);
    await this.step(key, sts, byOrdinal, updateRevision);
  }

  /** Makes at most one ordered change (or all changes with Parallel), then waits for events. */
  private async step(key: string, sts: V1StatefulSet, byOrdinal: Map<number, V1Pod>, updateRevision: string): Promise<void> {
    const namespace = sts.metadata?.namespace ?? '';
    const replicas = sts.spec?.replicas ?? 1;
    const parallel = sts.spec?.podManagementPolicy === 'Parallel';

    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const pod = byOrdinal.get(ordinal);
      if (pod?.status?.phase === 'Failed' && !pod.metadata?.deletionTimestamp) {
        await this.deletePod(key, namespace, pod, 'failed');
        if (!parallel) return;
        continue;
      }
      if (!pod) {
        await this.createPod(key, sts, ordinal, updateRevision);
        if (!parallel) return;
        continue;
      }
      if (!parallel && (!isPodActive(pod) || !isPodReady(pod))) return;
    }

    const surplus = [...byOrdinal.keys()].filter((ordinal) => ordinal >= replicas).sort((a, b) => b - a);
    for (const ordinal of surplus) {
      const pod = byOrdinal.get(ordinal)!;
      if (pod.metadata?.deletionTimestamp) {
        if (!parallel) return;
        continue;
      }
      await this.deletePod(key, namespace, pod, 'scale-down');
      if (!parallel) return;
    }

    if (sts.spec?.updateStrategy?.type === 'OnDelete') return;
    const partition = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    for (let ordinal = replicas - 1; ordinal >= partition; ordinal--) {
      const pod = byOrdinal.get(ordinal);
      if (!pod || !isPodActive(pod) || !isPodReady(pod)) return;
      if (pod.metadata?.labels?.[REVISION_LABEL] !== updateRevision) {
        await this.deletePod(key, namespace, pod, 'update');
        return;
      }
    }
  }

  private async createPod(key: string, sts: V1StatefulSet, ordinal: number, revision: string): Promise<void> {
    const namespace = sts.metadata?.namespace ?? '';
    const pod = podForOrdinal(sts, ordinal, revision);
    try {
      const created = await this.writer.createPod(namespace, pod);
      log('-> %s: created pod %s', key, created.metadata?.name);
      this.expectations.created(key, created);
    } catch (error) {
      // The old pod of that name is still terminating, or the cache lags: the next event retries.
      if (isConflict(error)) return;
      // Refused (Pod Security, quota): said as the real controller says it, then retried with back-off.
      const message = apiErrorMessage(error);
      await this.events.warning({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: sts.metadata }, 'FailedCreate',
        `create Pod ${pod.metadata?.name} in StatefulSet ${sts.metadata?.name} failed error: ${message}`);
      throw error;
    }
  }

  private async deletePod(key: string, namespace: string, pod: V1Pod, why: string): Promise<void> {
    log('-> %s: deleting pod %s (%s)', key, pod.metadata?.name, why);
    await this.writer.deletePod(namespace, pod.metadata?.name ?? '');
    this.expectations.deleted(key, pod.metadata?.name ?? '');
  }

  private async writeStatus(sts: V1StatefulSet, pods: V1Pod[], updateRevision: string): Promise<void> {
    const active = pods.filter(isPodActive);
    const replicas = sts.spec?.replicas ?? 1;
    const previousCurrent = sts.status?.currentRevision || updateRevision;
    const updated = active.filter((pod) => pod.metadata?.labels?.[REVISION_LABEL] === updateRevision);
    const ready = active.filter(isPodReady);
    // The rollout is complete when every wanted pod runs the update revision and is ready.
    const rolledOut = updated.length === replicas && active.length === replicas && updated.every(isPodReady);
    const currentRevision = rolledOut ? updateRevision : previousCurrent;
    const status: V1StatefulSetStatus = {
      observedGeneration: sts.metadata?.generation ?? 0,
      replicas: active.length,
      readyReplicas: ready.length,
      availableReplicas: active.filter((pod) => isPodAvailable(pod, sts.spec?.minReadySeconds ?? 0)).length,
      currentReplicas: active.filter((pod) => pod.metadata?.labels?.[REVISION_LABEL] === currentRevision).length,
      updatedReplicas: updated.length,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    };
    const current = (sts.status ?? {}) as Record<string, unknown>;
    if ((Object.keys(status) as (keyof V1StatefulSetStatus)[]).every((k) => (current[k] ?? 0) === status[k])) return;
    await this.writer.patchStatus('statefulsets', sts.metadata?.namespace ?? '', sts.metadata?.name ?? '', status);
  }
}

export function podForOrdinal(sts: V1StatefulSet, ordinal: number, revision: string): V1Pod {
  const name = `${sts.metadata?.name}-${ordinal}`;
  const template = sts.spec?.template ?? {};
  const spec = structuredClone(template.spec ?? { containers: [] });
  spec.hostname = name;
  if (sts.spec?.serviceName) spec.subdomain = sts.spec.serviceName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: sts.metadata?.namespace,
      labels: { ...(template.metadata?.labels ?? {}), [REVISION_LABEL]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
      annotations: template.metadata?.annotations ? { ...template.metadata.annotations } : undefined,
      ownerReferences: [ownerReferenceTo(sts, 'apps/v1', 'StatefulSet')],
    },
    spec,
  };
}

function ordinalOf(sts: V1StatefulSet, pod: V1Pod): number | undefined {
  const prefix = `${sts.metadata?.name}-`;
  const name = pod.metadata?.name ?? '';
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

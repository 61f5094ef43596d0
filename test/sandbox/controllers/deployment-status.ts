// A Deployment's status from its ReplicaSets: the counts (replicas, updatedReplicas,
// readyReplicas, availableReplicas, unavailableReplicas), observedGeneration, and the conditions
// Available (MinimumReplicasAvailable / MinimumReplicasUnavailable) and Progressing
// (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded) —
// the fields `kubectl rollout status` reads. Returns undefined when nothing changed, so the
// controller writes only real changes. Used by deployment.ts.
import type { V1Deployment, V1DeploymentCondition, V1DeploymentStatus, V1ReplicaSet } from '@kubernetes/client-node';
import { isoNow, timeOf } from './pods.js';
import { surgeAndUnavailable } from './rollout-math.js';
import { canonicalJson } from './template-hash.js';

const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

export function deploymentStatus(d: V1Deployment, newRs: V1ReplicaSet | undefined, oldRs: V1ReplicaSet[]): V1DeploymentStatus | undefined {
  const desired = d.spec?.replicas ?? 1;
  const all = newRs ? [newRs, ...oldRs] : oldRs;
  const sum = (pick: (rs: V1ReplicaSet) => number | undefined): number => all.reduce((total, rs) => total + (pick(rs) ?? 0), 0);
  const replicas = sum((rs) => rs.status?.replicas);
  const updatedReplicas = newRs?.status?.replicas ?? 0;
  const readyReplicas = sum((rs) => rs.status?.readyReplicas);
  const availableReplicas = sum((rs) => rs.status?.availableReplicas);
  const previous = d.status ?? {};
  const counts = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas,
    updatedReplicas,
    readyReplicas,
    availableReplicas,
    unavailableReplicas: Math.max(0, desired - availableReplicas),
  };

  const { unavailable } = surgeAndUnavailable(desired, d.spec?.strategy?.rollingUpdate?.maxSurge, d.spec?.strategy?.rollingUpdate?.maxUnavailable);
  const minAvailable = d.spec?.strategy?.type === 'Recreate' ? desired : desired - unavailable;
  const conditions: V1DeploymentCondition[] = [
    availableReplicas >= minAvailable
      ? condition(previous, 'Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
      : condition(previous, 'Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'),
    progressing(d, newRs, counts, desired),
  ];
  const status: V1DeploymentStatus = { ...counts, conditions };
  const changed = (Object.keys(counts) as (keyof typeof counts)[]).some((k) => (previous[k] ?? 0) !== counts[k]) ||
    canonicalJson(previous.conditions ?? []) !== canonicalJson(conditions);
  return changed ? status : undefined;
}

function progressing(d: V1Deployment, newRs: V1ReplicaSet | undefined, counts: { replicas: number; updatedReplicas: number; availableReplicas: number }, desired: number): V1DeploymentCondition {
  const previous = d.status ?? {};
  const rsName = newRs?.metadata?.name ?? d.metadata?.name ?? '';
  const complete = counts.updatedReplicas === desired && counts.replicas === desired && counts.availableReplicas === desired;
  if (complete) return condition(previous, 'Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
  const before = previous.conditions?.find((c) => c.type === 'Progressing');
  const madeProgress = !before || previous.observedGeneration !== d.metadata?.generation ||
    (previous.updatedReplicas ?? 0) !== counts.updatedReplicas || (previous.availableReplicas ?? 0) !== counts.availableReplicas ||
    (previous.replicas ?? 0) !== counts.replicas || before.reason === 'NewReplicaSetAvailable';
  if (madeProgress) {
    const reason = newRs && (newRs.status?.replicas ?? 0) === 0 && (newRs.spec?.replicas ?? 0) > 0 ? 'NewReplicaSetCreated' : 'ReplicaSetUpdated';
    const message = reason === 'NewReplicaSetCreated' ? `Created new replica set "${rsName}"` : `ReplicaSet "${rsName}" is progressing.`;
    return { ...condition(previous, 'Progressing', 'True', reason, message), lastUpdateTime: isoNow() as unknown as Date };
  }
  const deadline = (d.spec?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000;
  const since = timeOf(before?.lastUpdateTime) ?? Date.now();
  if (Date.now() - since > deadline) {
    return condition(previous, 'Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`);
  }
  return before as V1DeploymentCondition;
}

/** A condition that keeps its transition time while its status stays the same. */
function condition(previous: V1DeploymentStatus, type: string, status: string, reason: string, message: string): V1DeploymentCondition {
  const before = previous.conditions?.find((c) => c.type === type);
  const now = isoNow();
  const same = before?.status === status;
  const lastTransitionTime = same ? asString(before?.lastTransitionTime) ?? now : now;
  const lastUpdateTime = same && before?.reason === reason ? asString(before?.lastUpdateTime) ?? now : now;
  return { type, status, reason, message, lastUpdateTime: lastUpdateTime as unknown as Date, lastTransitionTime: lastTransitionTime as unknown as Date };
}

function asString(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value instanceof Date ? value.toISOString().replace(/\.\d{3}Z$/, 'Z') : value;
}

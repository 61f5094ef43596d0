// Why a workload's controller cannot create pods, read the way `kubectl describe` shows it: the
// ReplicaSet's ReplicaFailure condition (for a Deployment, on its ReplicaSet with the current
// template) and FailedCreate Warning events on the ReplicaSet or StatefulSet. Admission refusals
// (Pod Security, quotas, webhooks) land there, never on a pod, because no pod exists. Used by
// injector.ts while it waits for a rollout, so a refused rollout is reported within seconds.
import { AppsV1Api, CoreV1Api, type CoreV1Event, type KubeConfig, type V1ReplicaSet } from '@kubernetes/client-node';
import type { Workload, WorkloadObject } from './workload-api.js';

export class RolloutFailures {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * The controller's latest reason for not creating pods of the template `isCurrent` accepts,
   * reported since `since`; null while there is none. Read failures count as none: this only
   * sharpens the wait's message.
   */
  async find(workload: Workload, object: WorkloadObject, isCurrent: (rs: V1ReplicaSet) => boolean, since: Date): Promise<string | null> {
    try {
      const subjects: { uid?: string; status?: V1ReplicaSet['status'] }[] = [];
      if (workload.kind === 'Deployment') {
        const owned = (await this.apps.listNamespacedReplicaSet({ namespace: workload.namespace })).items
          .filter((rs) => (rs.metadata?.ownerReferences ?? []).some((r) => r.uid === object.metadata?.uid) && isCurrent(rs));
        subjects.push(...owned.map((rs) => ({ uid: rs.metadata?.uid, status: rs.status })));
      } else {
        subjects.push({ uid: object.metadata?.uid, status: workload.kind === 'ReplicaSet' ? (object as V1ReplicaSet).status : undefined });
      }
      for (const subject of subjects) {
        const failure = subject.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
        if (failure?.message) return failure.message;
      }
      const uids = new Set(subjects.map((s) => s.uid).filter(Boolean));
      const events = (await this.core.listNamespacedEvent({ namespace: workload.namespace })).items
        .filter((e) => e.type === 'Warning' && e.reason === 'FailedCreate' && uids.has(e.involvedObject?.uid) && seenAt(e) >= since.getTime() - 1000)
        .sort((a, b) => seenAt(b) - seenAt(a));
      return events[0]?.message?.replace(/^Error creating: /, '') ?? null;
    } catch {
      return null;
    }
  }
}

function seenAt(event: CoreV1Event): number {
  const when = event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata?.creationTimestamp;
  return when ? new Date(when).getTime() : 0;
}

/** The fix to suggest for a refusal message. */
export function fixFor(message: string, namespace: string): string {
  if (/PodSecurity/i.test(message)) {
    return `The workload's own pod settings break the Pod Security level namespace ${namespace} enforces (the traffic-agent complies on its own, but tp does not change the app's settings): make its securityContext comply (see docs/security.md), or intercept it where the level allows it (kubectl get ns ${namespace} --show-labels shows the level).`;
  }
  if (/quota/i.test(message)) return `A ResourceQuota in namespace ${namespace} has no room for the new pods: kubectl describe quota -n ${namespace}`;
  return `See the controller's events: kubectl -n ${namespace} get events --field-selector reason=FailedCreate`;
}

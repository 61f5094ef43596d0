// Which user a container's process runs as, from its and its pod's securityContext (runAsUser,
// runAsGroup, supplementalGroups, fsGroup; the container's settings win), and the kubelet's
// runAsNonRoot check: the sandbox's images declare no USER, so like root-user images they need a
// non-zero runAsUser when runAsNonRoot is set, else the container waits in
// CreateContainerConfigError with the real kubelet's message. A non-root user is applied with
// setpriv after the launcher has made the mounts. Leaves out user names and image USER lines.
// Used by pod-worker.ts.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError } from './pod-env.js';

export interface RunAs { uid: number; gid: number; groups: number[] }

export function runAsOf(pod: V1Pod, container: V1Container): RunAs {
  const podContext = pod.spec?.securityContext;
  const own = container.securityContext;
  const uid = own?.runAsUser ?? podContext?.runAsUser ?? 0;
  const gid = own?.runAsGroup ?? podContext?.runAsGroup ?? 0;
  const nonRoot = own?.runAsNonRoot ?? podContext?.runAsNonRoot ?? false;
  const where = `(pod: "${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})", container: ${container.name})`;
  if (nonRoot && uid === 0) {
    const explicit = own?.runAsUser !== undefined || podContext?.runAsUser !== undefined;
    throw new ContainerConfigError(explicit ? `container's runAsUser breaks non-root policy ${where}` : `container has runAsNonRoot and image will run as root ${where}`);
  }
  const groups = [...new Set([...(podContext?.supplementalGroups ?? []), ...(podContext?.fsGroup === undefined ? [] : [podContext.fsGroup])])];
  return { uid, gid, groups };
}

/** The argv prefix that switches to the user (nothing for root, the launcher's own user). */
export function runAsPrefix(user: RunAs): string[] {
  if (user.uid === 0 && user.gid === 0 && user.groups.length === 0) return [];
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, user.groups.length ? `--groups=${user.groups.join(',')}` : '--clear-groups', '--'];
}

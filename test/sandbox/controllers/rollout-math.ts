// The arithmetic of a Deployment's rolling update, as pure functions: resolving maxSurge and
// maxUnavailable (ints or percentages of the desired count; surge rounds up, unavailable rounds
// down, and both zero means one may be unavailable), and how far the new ReplicaSet may grow and
// the old ones shrink in one step so that total pods stay at most desired + maxSurge and available
// pods at least desired − maxUnavailable. Used by deployment.ts; the tests call it directly.
import type { IntOrString } from '@kubernetes/client-node';

export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';

export function resolveIntOrPercent(value: IntOrString | undefined, fallback: string, total: number, roundUp: boolean): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const match = /^(\d+)%$/.exec(v);
  if (!match) {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0) return n;
    throw new Error(`invalid value ${JSON.stringify(v)}: want an integer or a percentage`);
  }
  const exact = (Number(match[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

export function surgeAndUnavailable(desired: number, maxSurge?: IntOrString, maxUnavailable?: IntOrString): { surge: number; unavailable: number } {
  const surge = resolveIntOrPercent(maxSurge, DEFAULT_MAX_SURGE, desired, true);
  let unavailable = resolveIntOrPercent(maxUnavailable, DEFAULT_MAX_UNAVAILABLE, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, desired) };
}

export interface RsCounts {
  /** spec.replicas */
  replicas: number;
  /** status.availableReplicas */
  available: number;
}

/** The new ReplicaSet's next spec.replicas: grow towards desired without passing desired + surge pods. */
export function nextNewReplicas(desired: number, surge: number, newRs: RsCounts, oldRs: RsCounts[]): number {
  if (newRs.replicas >= desired) return desired;
  const total = newRs.replicas + oldRs.reduce((sum, rs) => sum + rs.replicas, 0);
  const room = desired + surge - total;
  if (room <= 0) return newRs.replicas;
  return newRs.replicas + Math.min(room, desired - newRs.replicas);
}

/**
 * How many pods the old ReplicaSets may lose now: never drop below desired − unavailable available
 * pods, counting the new ReplicaSet's pods that are not available yet as missing. Unavailable old
 * pods may always go first (they add nothing to availability), so they are returned separately.
 */
export function oldScaleDownBudget(desired: number, unavailable: number, newRs: RsCounts, oldRs: RsCounts[]): { unhealthy: number; healthy: number } {
  const oldTotal = oldRs.reduce((sum, rs) => sum + rs.replicas, 0);
  if (oldTotal === 0) return { unhealthy: 0, healthy: 0 };
  const allPods = oldTotal + newRs.replicas;
  const minAvailable = desired - unavailable;
  const newUnavailable = Math.max(0, newRs.replicas - newRs.available);
  const maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { unhealthy: 0, healthy: 0 };
  const oldUnhealthy = oldRs.reduce((sum, rs) => sum + Math.max(0, rs.replicas - rs.available), 0);
  const unhealthy = Math.min(oldUnhealthy, maxScaledDown);
  const totalAvailable = newRs.available + oldRs.reduce((sum, rs) => sum + Math.min(rs.available, rs.replicas), 0);
  const healthy = Math.max(0, Math.min(totalAvailable - minAvailable, oldTotal - unhealthy));
  return { unhealthy, healthy };
}

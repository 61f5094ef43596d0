// Pod Security admission, as the built-in PodSecurity plugin of a real API server runs it: a
// namespace's `pod-security.kubernetes.io/enforce` label (privileged, baseline, restricted; an
// unknown value counts as restricted) makes a pod create that violates the level a 403 Forbidden
// `pods "x" is forbidden: violates PodSecurity "restricted:latest": …`; workloads with a pod
// template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController,
// PodTemplate) are never rejected but get a `Warning` response header `would violate PodSecurity
// …`. The `warn` label adds such warnings for pods and workloads. Leaves out the `audit` mode,
// exemptions, and checks of pod updates. Used by router.ts on create, update and patch.
import type { V1PodSpec } from '@kubernetes/client-node';
import { ApiStatusError, qualifiedResource } from '../status-errors.js';
import type { KindInfo } from '../registry/kinds.js';
import type { Store } from '../store.js';
import { violations, type Level } from './pod-security-checks.js';

const LABEL_PREFIX = 'pod-security.kubernetes.io/';
const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

export interface AdmissionResult {
  /** Texts for `Warning: 299 - "<text>"` response headers. */
  warnings: string[];
}

interface Policy { level: Level; version: string }

function policyOf(labels: Record<string, string>, mode: 'enforce' | 'warn'): Policy | undefined {
  const value = labels[`${LABEL_PREFIX}${mode}`];
  if (value === undefined) return undefined;
  const level = (LEVELS as readonly string[]).includes(value) ? (value as Level) : 'restricted';
  return { level, version: labels[`${LABEL_PREFIX}${mode}-version`] ?? 'latest' };
}

/** The pod spec inside an object of a kind that has one (a pod itself or a workload's template). */
function podSpecOf(kind: string, object: Record<string, unknown>): V1PodSpec | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  switch (kind) {
    case 'Pod': return spec as V1PodSpec | undefined;
    case 'PodTemplate': return (object.template as { spec?: V1PodSpec } | undefined)?.spec;
    case 'Deployment': case 'ReplicaSet': case 'StatefulSet': case 'DaemonSet': case 'Job': case 'ReplicationController':
      return (spec?.template as { spec?: V1PodSpec } | undefined)?.spec;
    case 'CronJob':
      return ((spec?.jobTemplate as { spec?: { template?: { spec?: V1PodSpec } } } | undefined)?.spec?.template)?.spec;
    default: return undefined;
  }
}

/** `allowPrivilegeEscalation != false (container "c" must set …), …` or undefined when the spec passes. */
function verdict(policy: Policy, spec: V1PodSpec): string | undefined {
  const found = violations(policy.level, spec);
  if (found.length === 0) return undefined;
  const list = found.map((v) => (v.detail ? `${v.reason} (${v.detail})` : v.reason)).join(', ');
  return `PodSecurity "${policy.level}:${policy.version}": ${list}`;
}

/**
 * Admits a create or update of `object`: throws the upstream 403 for a pod that violates the
 * namespace's enforced level, and returns the warnings a real API server would send.
 */
export function admitPodSecurity(store: Store, kind: KindInfo, namespace: string | undefined, object: Record<string, unknown>, operation: 'create' | 'update'): AdmissionResult {
  if (!kind.namespaced || namespace === undefined) return { warnings: [] };
  const spec = podSpecOf(kind.kind, object);
  if (!spec) return { warnings: [] };
  const labels = store.get('/namespaces', undefined, namespace)?.metadata.labels ?? {};
  const enforce = policyOf(labels, 'enforce');
  const warn = policyOf(labels, 'warn');
  const warnings: string[] = [];
  if (enforce) {
    const failed = verdict(enforce, spec);
    if (failed && kind.kind === 'Pod') {
      if (operation === 'create') {
        // Upstream names the object before its name is generated: a generateName shows as `rs-abc12-`.
        const metadata = (object.metadata ?? {}) as { name?: string; generateName?: string };
        const name = metadata.name || metadata.generateName || 'Unknown';
        throw new ApiStatusError(403, 'Forbidden', `${qualifiedResource(kind.group, kind.resource)} "${name}" is forbidden: violates ${failed}`, { name, kind: kind.resource });
      }
    } else if (failed) {
      warnings.push(`would violate ${failed}`);
    }
  }
  if (warn) {
    const failed = verdict(warn, spec);
    if (failed && !warnings.includes(`would violate ${failed}`)) warnings.push(`would violate ${failed}`);
  }
  return { warnings };
}

/** Sets the `Warning` headers of a reply, quoted as RFC 7234 warn-text (as kubectl reads them). */
export function setWarningHeaders(res: { setHeader(name: string, value: string[]): unknown }, warnings: string[]): void {
  if (warnings.length === 0) return;
  res.setHeader('Warning', warnings.map((text) => `299 - "${text.replace(/["\\]/g, '\\$&')}"`));
}

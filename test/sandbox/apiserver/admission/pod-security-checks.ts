// The Pod Security Standards checks, one function per upstream check ID, each returning upstream's
// "forbidden reason" and detail for a pod spec that fails it. The wording, the order (by check ID)
// and which checks each level runs follow k8s.io/pod-security-admission, so the messages built
// from these read like a real API server's. Leaves out: AppArmor, SELinux, sysctls and Windows
// host-process checks (nothing tp or its tests set). Used by pod-security.ts.
import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

export type Level = 'privileged' | 'baseline' | 'restricted';
export interface Violation { reason: string; detail: string }
type Check = (spec: V1PodSpec) => Violation | undefined;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

function allContainers(spec: V1PodSpec): V1Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...((spec.ephemeralContainers ?? []) as V1Container[])];
}

const quote = (values: Iterable<string>): string => [...values].map((v) => `"${v}"`).join(', ');
const plural = (one: string, many: string, n: number): string => (n === 1 ? one : many);
const containers = (names: string[]): string => `${plural('container', 'containers', names.length)} ${quote(names)}`;
const sorted = (values: Set<string>): string[] => [...values].sort();

/** Names of the containers whose securityContext satisfies `bad`. */
function offenders(spec: V1PodSpec, bad: (sc: V1SecurityContext | undefined) => boolean): string[] {
  return allContainers(spec).filter((c) => bad(c.securityContext)).map((c) => c.name);
}

const allowPrivilegeEscalation: Check = (spec) => {
  const bad = offenders(spec, (sc) => sc?.allowPrivilegeEscalation !== false);
  return bad.length ? { reason: 'allowPrivilegeEscalation != false', detail: `${containers(bad)} must set securityContext.allowPrivilegeEscalation=false` } : undefined;
};

const capabilitiesBaseline: Check = (spec) => {
  const names: string[] = [];
  const added = new Set<string>();
  for (const c of allContainers(spec)) {
    const extra = (c.securityContext?.capabilities?.add ?? []).filter((cap) => !BASELINE_CAPABILITIES.has(cap));
    if (extra.length) names.push(c.name);
    extra.forEach((cap) => added.add(cap));
  }
  return names.length ? { reason: 'non-default capabilities', detail: `${containers(names)} must not include ${quote(sorted(added))} in securityContext.capabilities.add` } : undefined;
};

const capabilitiesRestricted: Check = (spec) => {
  const missingDrop = offenders(spec, (sc) => !(sc?.capabilities?.drop ?? []).includes('ALL'));
  const adding: string[] = [];
  const added = new Set<string>();
  for (const c of allContainers(spec)) {
    const extra = (c.securityContext?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (extra.length) adding.push(c.name);
    extra.forEach((cap) => added.add(cap));
  }
  const details: string[] = [];
  if (missingDrop.length) details.push(`${containers(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) details.push(`${containers(adding)} must not include ${quote(sorted(added))} in securityContext.capabilities.add`);
  return details.length ? { reason: 'unrestricted capabilities', detail: details.join('; ') } : undefined;
};

const hostNamespaces: Check = (spec) => {
  const set = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((field) => spec[field] === true).map((field) => `${field}=true`);
  return set.length ? { reason: 'host namespaces', detail: set.join(', ') } : undefined;
};

function volumesOfType(spec: V1PodSpec, allowed: (type: string) => boolean): { names: string[]; types: Set<string> } {
  const names: string[] = [];
  const types = new Set<string>();
  for (const volume of spec.volumes ?? []) {
    const bad = Object.keys(volume).filter((key) => key !== 'name' && (volume as unknown as Record<string, unknown>)[key] != null && !allowed(key));
    if (bad.length) names.push(volume.name);
    bad.forEach((type) => types.add(type));
  }
  return { names, types };
}

const hostPathVolumes: Check = (spec) => {
  const { names } = volumesOfType(spec, (type) => type !== 'hostPath');
  return names.length ? { reason: 'hostPath volumes', detail: `${plural('volume', 'volumes', names.length)} ${quote(names)}` } : undefined;
};

const hostPorts: Check = (spec) => {
  const names: string[] = [];
  const ports = new Set<string>();
  for (const c of allContainers(spec)) {
    const used = (c.ports ?? []).filter((p) => (p.hostPort ?? 0) !== 0).map((p) => String(p.hostPort));
    if (used.length) names.push(c.name);
    used.forEach((p) => ports.add(p));
  }
  return names.length
    ? { reason: 'hostPort', detail: `${containers(names)} ${plural('uses', 'use', names.length)} ${plural('hostPort', 'hostPorts', ports.size)} ${sorted(ports).join(', ')}` }
    : undefined;
};

const privileged: Check = (spec) => {
  const bad = offenders(spec, (sc) => sc?.privileged === true);
  return bad.length ? { reason: 'privileged', detail: `${containers(bad)} must not set securityContext.privileged=true` } : undefined;
};

const procMount: Check = (spec) => {
  const bad = offenders(spec, (sc) => sc?.procMount !== undefined && sc.procMount !== 'Default');
  return bad.length ? { reason: 'procMount', detail: `${containers(bad)} must not set securityContext.procMount to "Unmasked"` } : undefined;
};

const restrictedVolumes: Check = (spec) => {
  const { names, types } = volumesOfType(spec, (type) => RESTRICTED_VOLUME_TYPES.has(type));
  return names.length
    ? { reason: 'restricted volume types', detail: `${plural('volume', 'volumes', names.length)} ${quote(names)} ${plural('uses', 'use', names.length)} restricted volume ${plural('type', 'types', types.size)} ${quote(sorted(types))}` }
    : undefined;
};

const runAsNonRoot: Check = (spec) => {
  const podSetsTrue = spec.securityContext?.runAsNonRoot === true;
  const details: string[] = [];
  if (spec.securityContext?.runAsNonRoot === false) details.push('pod must not set securityContext.runAsNonRoot=false');
  const explicitFalse = offenders(spec, (sc) => sc?.runAsNonRoot === false);
  if (explicitFalse.length) details.push(`${containers(explicitFalse)} must not set securityContext.runAsNonRoot=false`);
  const unset = podSetsTrue ? [] : offenders(spec, (sc) => sc?.runAsNonRoot === undefined || sc.runAsNonRoot === null);
  if (unset.length) details.push(`pod or ${containers(unset)} must set securityContext.runAsNonRoot=true`);
  return details.length ? { reason: 'runAsNonRoot != true', detail: details.join('; ') } : undefined;
};

const runAsUser: Check = (spec) => {
  const details: string[] = [];
  if (spec.securityContext?.runAsUser === 0) details.push('pod must not set runAsUser=0');
  const bad = offenders(spec, (sc) => sc?.runAsUser === 0);
  if (bad.length) details.push(`${containers(bad)} must not set runAsUser=0`);
  return details.length ? { reason: 'runAsUser=0', detail: details.join('; ') } : undefined;
};

const seccompProfileBaseline: Check = (spec) => {
  const details: string[] = [];
  if (spec.securityContext?.seccompProfile?.type === 'Unconfined') details.push('pod must not set securityContext.seccompProfile.type to "Unconfined"');
  const bad = offenders(spec, (sc) => sc?.seccompProfile?.type === 'Unconfined');
  if (bad.length) details.push(`${containers(bad)} must not set securityContext.seccompProfile.type to "Unconfined"`);
  return details.length ? { reason: 'seccompProfile', detail: details.join('; ') } : undefined;
};

const seccompProfileRestricted: Check = (spec) => {
  const valid = (type: string | undefined): boolean => type === 'RuntimeDefault' || type === 'Localhost';
  const podType = spec.securityContext?.seccompProfile?.type;
  const details: string[] = [];
  if (podType !== undefined && !valid(podType)) details.push(`pod must not set securityContext.seccompProfile.type to "${podType}"`);
  const explicitBad = allContainers(spec).filter((c) => c.securityContext?.seccompProfile?.type !== undefined && !valid(c.securityContext.seccompProfile.type));
  if (explicitBad.length) {
    const types = new Set(explicitBad.map((c) => c.securityContext!.seccompProfile!.type));
    details.push(`${containers(explicitBad.map((c) => c.name))} must not set securityContext.seccompProfile.type to ${quote(sorted(types))}`);
  }
  const unset = valid(podType) ? [] : offenders(spec, (sc) => sc?.seccompProfile?.type === undefined);
  if (unset.length) details.push(`pod or ${containers(unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`);
  return details.length ? { reason: 'seccompProfile', detail: details.join('; ') } : undefined;
};

/** The checks each level runs, in upstream's check-ID order (restricted ones replace their baseline counterparts). */
const CHECKS: Record<Exclude<Level, 'privileged'>, Check[]> = {
  baseline: [capabilitiesBaseline, hostNamespaces, hostPathVolumes, hostPorts, privileged, procMount, seccompProfileBaseline],
  restricted: [allowPrivilegeEscalation, capabilitiesRestricted, hostNamespaces, hostPorts, privileged, procMount, restrictedVolumes, runAsNonRoot, runAsUser, seccompProfileRestricted],
};

/** Every violation of the level by a pod spec, in upstream's order; empty when it passes. */
export function violations(level: Level, spec: V1PodSpec): Violation[] {
  if (level === 'privileged') return [];
  return CHECKS[level].map((check) => check(spec)).filter((v): v is Violation => v !== undefined);
}

// From `tp intercept <workload> --port …:<service port>` to what the agent must take: the
// workload (Deployment, StatefulSet or ReplicaSet, by name or Kind/name), the Service selecting
// its pods, the service port (by name or number), its targetPort and the app container and port
// behind it. Works on the ORIGINAL pod template (before any injection), so choosing a port is the
// same whether or not an agent is already there. Pure: injector.ts does the reading.
import type { V1Container, V1PodTemplateSpec, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { WorkloadKind } from '../api/control-api.js';
import { InterceptError, listWords } from './intercept-errors.js';
import { readServiceOriginal } from './agent-patch.js';

export const WORKLOAD_KINDS: WorkloadKind[] = ['Deployment', 'StatefulSet', 'ReplicaSet'];

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
  namespace: string;
}

export interface InterceptTarget {
  service: V1Service;
  servicePort: V1ServicePort;
  /** The Service's targetPort before any agent (name or number). */
  targetPort: string | number;
  container: V1Container;
  appPort: number;
}

/** Splits `Kind/name` (kind case-insensitive, plural or short forms welcome) or a bare name. */
export function parseWorkloadName(text: string): { kind?: WorkloadKind; name: string } {
  const slash = text.indexOf('/');
  if (slash === -1) return { name: text };
  const word = text.slice(0, slash).toLowerCase().replace(/\.apps$/, '');
  const kind = WORKLOAD_KINDS.find((k) => [k.toLowerCase(), `${k.toLowerCase()}s`].includes(word)) ?? ({ deploy: 'Deployment', sts: 'StatefulSet', rs: 'ReplicaSet' } as Record<string, WorkloadKind>)[word];
  if (!kind) throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', `"${text.slice(0, slash)}" is not a workload kind tp intercepts; use Deployment, StatefulSet or ReplicaSet.`);
  return { kind, name: text.slice(slash + 1) };
}

/** Does the Service's selector pick the template's pods? (An empty selector picks none.) */
export function selects(service: V1Service, template: V1PodTemplateSpec): boolean {
  const selector = service.spec?.selector ?? {};
  const labels = template.metadata?.labels ?? {};
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Picks service, port and container; every failure names what does exist. */
export function findTarget(workload: WorkloadRef, template: V1PodTemplateSpec, services: V1Service[], wanted: { service?: string; servicePort?: string }): InterceptTarget {
  const what = `${workload.kind}/${workload.name}`;
  const selecting = services.filter((s) => selects(s, template));
  let service: V1Service;
  if (wanted.service) {
    const named = selecting.find((s) => s.metadata?.name === wanted.service);
    if (!named) {
      throw new InterceptError('TP_ERR_INTERCEPT_NO_SERVICE', `Service "${wanted.service}" does not select the pods of ${what} in namespace "${workload.namespace}". Services that do: ${listWords(selecting.map((s) => s.metadata!.name!))}.`);
    }
    service = named;
  } else if (selecting.length === 1) {
    service = selecting[0];
  } else if (selecting.length === 0) {
    throw new InterceptError('TP_ERR_INTERCEPT_NO_SERVICE', `No Service in namespace "${workload.namespace}" selects the pods of ${what}, so no traffic could reach an intercept. Create a Service whose selector matches the pod labels ${JSON.stringify(template.metadata?.labels ?? {})}.`);
  } else {
    throw new InterceptError('TP_ERR_INTERCEPT_SERVICE_AMBIGUOUS', `Several Services select the pods of ${what}: ${listWords(selecting.map((s) => s.metadata!.name!))}. Pick one with --service.`);
  }

  const ports = service.spec?.ports ?? [];
  const describe = (p: V1ServicePort) => (p.name ? `${p.name} (${p.port})` : String(p.port));
  let servicePort: V1ServicePort | undefined;
  if (wanted.servicePort) {
    servicePort = ports.find((p) => p.name === wanted.servicePort || String(p.port) === wanted.servicePort);
  } else if (ports.length === 1) {
    servicePort = ports[0];
  } else {
    throw new InterceptError('TP_ERR_INTERCEPT_NO_PORT', `Service "${service.metadata!.name}" has several ports: ${listWords(ports.map(describe))}. Say which with --port <local>:<name or number>.`);
  }
  if (!servicePort) {
    throw new InterceptError('TP_ERR_INTERCEPT_NO_PORT', `Service "${service.metadata!.name}" has no port "${wanted.servicePort}". Its ports: ${listWords(ports.map(describe))}.`);
  }
  if (servicePort.protocol && servicePort.protocol !== 'TCP') {
    throw new InterceptError('TP_ERR_INTERCEPT_NO_PORT', `Port ${describe(servicePort)} of Service "${service.metadata!.name}" is ${servicePort.protocol}; tp intercepts TCP only.`);
  }

  const recorded = readServiceOriginal(service)[String(servicePort.port)];
  const targetPort = recorded ?? servicePort.targetPort ?? servicePort.port;
  const containers = template.spec?.containers ?? [];
  let container: V1Container | undefined;
  let appPort: number;
  if (typeof targetPort === 'string' && !/^\d+$/.test(targetPort)) {
    container = containers.find((c) => (c.ports ?? []).some((p) => p.name === targetPort));
    if (!container) {
      const named = containers.flatMap((c) => (c.ports ?? []).filter((p) => p.name).map((p) => `${p.name} (${c.name}:${p.containerPort})`));
      throw new InterceptError('TP_ERR_INTERCEPT_NO_CONTAINER', `Service "${service.metadata!.name}" sends port ${describe(servicePort)} to the container port named "${targetPort}", which no container of ${what} has. Named ports: ${listWords(named)}.`);
    }
    appPort = container.ports!.find((p) => p.name === targetPort)!.containerPort;
  } else {
    appPort = Number(targetPort);
    container = containers.find((c) => (c.ports ?? []).some((p) => p.containerPort === appPort)) ?? containers[0];
    if (!container) throw new InterceptError('TP_ERR_INTERCEPT_NO_CONTAINER', `${what} has no containers.`);
  }
  return { service, servicePort, targetPort: typeof targetPort === 'string' && /^\d+$/.test(targetPort) ? Number(targetPort) : targetPort, container, appPort };
}

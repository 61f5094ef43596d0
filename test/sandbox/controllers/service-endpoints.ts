// The pure part of the endpoints controllers: which pods back a Service and on which ports. A pod
// counts when the Service's selector matches it and it has an IP and has not finished; each
// Service port's targetPort is a number, or a container port name resolved per pod (a pod without
// that name is left out of that port, as in Kubernetes). Pods are grouped by the ports they
// resolve to, which gives the Endpoints subsets and the EndpointSlices. Used by endpoints.ts.
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { isPodReady } from './pods.js';
import { matchesMapSelector } from './selectors.js';

export interface ResolvedPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface Backend {
  pod: V1Pod;
  ip: string;
  ready: boolean;
  terminating: boolean;
  /** The pod's DNS hostname under a headless Service (spec.hostname when spec.subdomain is the Service). */
  hostname?: string;
}

export interface BackendGroup {
  /** A stable text key of the port set, for naming and comparing. */
  key: string;
  ports: ResolvedPort[];
  backends: Backend[];
}

export function serviceBackends(service: V1Service, pods: readonly V1Pod[]): BackendGroup[] {
  const groups = new Map<string, BackendGroup>();
  for (const pod of pods) {
    if (!matchesMapSelector(service.spec?.selector, pod.metadata?.labels)) continue;
    const ip = pod.status?.podIP;
    const phase = pod.status?.phase;
    if (!ip || phase === 'Succeeded' || phase === 'Failed') continue;
    const ports = resolvePorts(service, pod);
    if (ports.length === 0 && (service.spec?.ports?.length ?? 0) > 0) continue;
    const key = ports.map((p) => `${p.name ?? ''}:${p.port}/${p.protocol}`).join(',');
    let group = groups.get(key);
    if (!group) {
      group = { key, ports, backends: [] };
      groups.set(key, group);
    }
    const hostname = pod.spec?.hostname && pod.spec.subdomain === service.metadata?.name ? pod.spec.hostname : undefined;
    group.backends.push({ pod, ip, ready: isPodReady(pod) && !pod.metadata?.deletionTimestamp, terminating: Boolean(pod.metadata?.deletionTimestamp), hostname });
  }
  for (const group of groups.values()) group.backends.sort((a, b) => compareIp(a.ip, b.ip));
  return [...groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function resolvePorts(service: V1Service, pod: V1Pod): ResolvedPort[] {
  const resolved: ResolvedPort[] = [];
  for (const servicePort of service.spec?.ports ?? []) {
    const protocol = servicePort.protocol ?? 'TCP';
    const target = servicePort.targetPort ?? servicePort.port;
    let port: number | undefined;
    if (typeof target === 'number' || /^\d+$/.test(String(target))) {
      port = Number(target);
    } else {
      for (const container of pod.spec?.containers ?? []) {
        const match = container.ports?.find((p) => p.name === target && (p.protocol ?? 'TCP') === protocol);
        if (match) {
          port = match.containerPort;
          break;
        }
      }
    }
    if (port === undefined) continue;
    const entry: ResolvedPort = { port, protocol };
    if (servicePort.name) entry.name = servicePort.name;
    if (servicePort.appProtocol) entry.appProtocol = servicePort.appProtocol;
    resolved.push(entry);
  }
  return resolved;
}

function compareIp(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

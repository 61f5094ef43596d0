// A container's environment as the kubelet builds it: service link variables for the pod's
// namespace (`<SVC>_SERVICE_HOST`, docker-link `<SVC>_PORT…`), KUBERNETES_SERVICE_HOST/PORT, then
// envFrom (configMapRef/secretRef with prefix), then env with valueFrom (configMapKeyRef,
// secretKeyRef, fieldRef, resourceFieldRef) and `$(VAR)` expansion (`$$` escapes), HOSTNAME last.
// Leaves out fileKeyRef and container-level resource accounting (resourceFieldRef gives the
// request/limit if set, else a constant). Used by the kubelet (pod-worker.ts).
import type { V1ConfigMap, V1Container, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';

export const KUBERNETES_SERVICE = { host: '198.19.0.1', port: 443 };
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A reference the container needs is missing: the container waits with CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  readonly code = 'CreateContainerConfigError';
}

export interface EnvSources {
  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<V1Secret | undefined>;
  services: V1Service[];
}

export interface PodPlace { podIP: string; hostIP: string; nodeName: string }

export async function buildContainerEnv(pod: V1Pod, container: V1Container, place: PodPlace, sources: EnvSources): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { PATH: BASE_PATH, HOME: '/root', ...serviceLinkEnv(sources.services) };
  env.KUBERNETES_SERVICE_HOST = KUBERNETES_SERVICE.host;
  env.KUBERNETES_SERVICE_PORT = String(KUBERNETES_SERVICE.port);
  env.KUBERNETES_SERVICE_PORT_HTTPS = String(KUBERNETES_SERVICE.port);

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = await sources.configMap(ns, from.configMapRef.name!);
      if (!cm && !from.configMapRef.optional) throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      for (const [key, value] of Object.entries(cm?.data ?? {})) env[prefix + key] = value;
    }
    if (from.secretRef) {
      const secret = await sources.secret(ns, from.secretRef.name!);
      if (!secret && !from.secretRef.optional) throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [key, value] of Object.entries(secret?.data ?? {})) env[prefix + key] = Buffer.from(value, 'base64').toString('utf8');
    }
  }

  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = expandVars(variable.value ?? '', env);
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const value = (await sources.configMap(ns, ref.name!))?.data?.[ref.key];
      if (value === undefined && !ref.optional) throw new ContainerConfigError(`configmap "${ref.name}" has no key "${ref.key}"`);
      if (value !== undefined) env[variable.name] = value;
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const value = (await sources.secret(ns, ref.name!))?.data?.[ref.key];
      if (value === undefined && !ref.optional) throw new ContainerConfigError(`secret "${ref.name}" has no key "${ref.key}"`);
      if (value !== undefined) env[variable.name] = Buffer.from(value, 'base64').toString('utf8');
    } else if (from.fieldRef) {
      env[variable.name] = fieldValue(pod, from.fieldRef.fieldPath, place);
    } else if (from.resourceFieldRef) {
      env[variable.name] = resourceValue(container, from.resourceFieldRef.resource);
    }
  }
  env.HOSTNAME = pod.spec?.hostname ?? pod.metadata?.name ?? '';
  return env;
}

/** The value of a downward-API field path; unknown paths are a config error. */
export function fieldValue(pod: V1Pod, path: string, place: PodPlace): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) return (labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[labelOrAnnotation[2]] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata?.name ?? '';
    case 'metadata.namespace': return pod.metadata?.namespace ?? '';
    case 'metadata.uid': return pod.metadata?.uid ?? '';
    case 'metadata.labels': return Object.entries(pod.metadata?.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'metadata.annotations': return Object.entries(pod.metadata?.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName': return place.nodeName;
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP': case 'status.podIPs': return place.podIP;
    case 'status.hostIP': case 'status.hostIPs': return place.hostIP;
    default: throw new ContainerConfigError(`unsupported fieldRef ${path}`);
  }
}

function resourceValue(container: V1Container, resource: string): string {
  const [kind, name] = resource.split('.');
  const set = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  if (set?.[name] !== undefined) return String(set[name]);
  return name === 'cpu' ? '1' : name === 'memory' ? '1073741824' : '0';
}

/** Docker-link style variables for every service with a ClusterIP in the namespace. */
export function serviceLinkEnv(services: V1Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const service of services) {
    const ip = service.spec?.clusterIP;
    if (!ip || ip === 'None' || !service.metadata?.name) continue;
    const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
    const ports = service.spec?.ports ?? [];
    if (ports.length === 0) continue;
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(ports[0].port);
    for (const port of ports) {
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      if (port.name) env[`${prefix}_SERVICE_PORT_${port.name.toUpperCase().replace(/-/g, '_')}`] = String(port.port);
      const link = `${prefix}_PORT_${port.port}_${proto.toUpperCase()}`;
      env[link] = `${proto}://${ip}:${port.port}`;
      env[`${link}_PROTO`] = proto;
      env[`${link}_PORT`] = String(port.port);
      env[`${link}_ADDR`] = ip;
    }
    const first = ports[0];
    env[`${prefix}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
  }
  return env;
}

/** Kubernetes `$(VAR)` expansion: known names are replaced, unknown ones kept, `$$` is a literal `$`. */
export function expandVars(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : whole;
  });
}

// What injecting the traffic-agent does to Kubernetes objects, as pure functions on plain objects
// (no API calls: injector.ts reads and writes). Per the agent contract:
// - the pod template gets a container `traffic-agent` (the manager's image, `agent serve`) with
//   the app container's env and envFrom, the TP_AGENT_* settings, one port per taken port, the
//   app container's volumeMounts under AGENT_VOLUMES_ROOT (for laptops' copies; listed in
//   TP_AGENT_MOUNTS) — read-only, except a writable volume (emptyDir, PVC, ephemeral) that the app
//   itself mounts read-write, which a `--mount-rw` copy may write back to — and a
//   securityContext that passes Pod Security "restricted";
// - a NAMED Service targetPort moves to the agent: the app's port of that name becomes
//   `tp-<name>` (probes that named it follow), so the Service is untouched;
// - a NUMERIC targetPort stays on the app, and the Service's targetPort is pointed at the agent.
// The original app container is kept whole in the workload annotation `tp.dev/agent-original`
// and each Service's original targetPorts in `tp.dev/original-target-port`, so restoring is
// putting back what was recorded, field for field.
import type { V1Container, V1ContainerPort, V1EnvVar, V1PodTemplateSpec, V1Probe, V1Service, V1VolumeMount } from '@kubernetes/client-node';
import { AGENT_TOKEN_KEY, AGENT_TOKEN_SECRET, MANAGER_NAME, MANAGER_TUNNEL_PORT } from '../api/names.js';
import { restrictedSecurityContext } from '../api/pod-security.js';
import type { WorkloadKind } from '../api/control-api.js';

export const AGENT_CONTAINER = 'traffic-agent';
export const AGENT_ORIGINAL_ANNOTATION = 'tp.dev/agent-original';
export const SERVICE_ORIGINAL_ANNOTATION = 'tp.dev/original-target-port';
/** The agent sees the app's mount at `/etc/app` as `/tp/volumes/etc/app` (never over its own files). */
export const AGENT_VOLUMES_ROOT = '/tp/volumes';
/** The agent's ports are 9900, 9901, … in the order they were taken. */
export const FIRST_AGENT_PORT = 9900;
/** Kubernetes port names are IANA service names: at most 15 characters. */
const MAX_PORT_NAME = 15;

export interface PortMapping {
  /** The Service's named targetPort the agent took over (absent for numeric ones). */
  name?: string;
  agentPort: number;
  appPort: number;
}

/** The JSON kept in the workload's `tp.dev/agent-original` annotation. */
export interface AgentOriginal {
  managerNamespace: string;
  /** The app container exactly as it was before injection. */
  container: V1Container;
  ports: PortMapping[];
}

export interface AgentSettings {
  image: string;
  managerNamespace: string;
  workload: { kind: WorkloadKind; name: string };
}

export function renamedPortName(name: string): string {
  return `tp-${name}`.slice(0, MAX_PORT_NAME);
}

export function readAgentOriginal(annotations: Record<string, string> | undefined): AgentOriginal | null {
  const raw = annotations?.[AGENT_ORIGINAL_ANNOTATION];
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as AgentOriginal;
    return parsed && typeof parsed.container?.name === 'string' && Array.isArray(parsed.ports) ? parsed : null;
  } catch {
    return null;
  }
}

/** The pod template as it was before any injection (the template itself when there was none). */
export function originalTemplate(template: V1PodTemplateSpec, original: AgentOriginal | null): V1PodTemplateSpec {
  if (!original) return template;
  const spec = template.spec!;
  const containers = spec.containers.filter((c) => c.name !== AGENT_CONTAINER).map((c) => (c.name === original.container.name ? structuredClone(original.container) : c));
  return { ...template, spec: { ...spec, containers } };
}

/** The template with the agent taking `ports` from container `appContainer` (from the ORIGINAL template). */
export function injectAgent(original: V1PodTemplateSpec, appContainer: string, ports: PortMapping[], settings: AgentSettings): V1PodTemplateSpec {
  const spec = original.spec!;
  const app = spec.containers.find((c) => c.name === appContainer);
  if (!app) throw new Error(`container ${appContainer} is not in the pod template`);
  const renamed = new Map(ports.filter((p) => p.name).map((p) => [p.name!, renamedPortName(p.name!)]));
  const patchedApp: V1Container = structuredClone(app);
  if (patchedApp.ports) patchedApp.ports = patchedApp.ports.map((p) => (p.name && renamed.has(p.name) ? { ...p, name: renamed.get(p.name) } : p));
  for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    if (patchedApp[probe]) patchedApp[probe] = renameProbePort(patchedApp[probe], renamed);
  }
  const containers = spec.containers.map((c) => (c.name === appContainer ? patchedApp : c));
  containers.push(agentContainer(app, ports, settings, writableVolumes(original)));
  return { ...original, spec: { ...spec, containers } };
}

function renameProbePort(probe: V1Probe, renamed: Map<string, string>): V1Probe {
  const next = structuredClone(probe);
  for (const handler of [next.httpGet, next.tcpSocket, next.grpc as { port?: unknown } | undefined]) {
    if (handler && typeof handler.port === 'string' && renamed.has(handler.port)) handler.port = renamed.get(handler.port)!;
  }
  return next;
}

/** Volumes whose content the pod itself writes: a copy may write back to these (when the app mounts them read-write). */
function writableVolumes(template: V1PodTemplateSpec): Set<string> {
  return new Set((template.spec?.volumes ?? []).filter((v) => v.emptyDir || v.persistentVolumeClaim || v.ephemeral).map((v) => v.name));
}

function agentContainer(app: V1Container, ports: PortMapping[], settings: AgentSettings, writable: Set<string>): V1Container {
  const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const env: V1EnvVar[] = [
    ...(app.env ?? []),
    { name: 'TP_AGENT_MANAGER_URL', value: `ws://${MANAGER_NAME}.${settings.managerNamespace}.svc.cluster.local:${MANAGER_TUNNEL_PORT}/tunnel` },
    { name: 'TP_AGENT_TOKEN', valueFrom: { secretKeyRef: { name: AGENT_TOKEN_SECRET, key: AGENT_TOKEN_KEY } } },
    { name: 'TP_AGENT_WORKLOAD', value: `${settings.workload.kind}/${settings.workload.name}` },
    { name: 'TP_AGENT_CONTAINER', value: app.name },
    fieldEnv('TP_AGENT_NAMESPACE', 'metadata.namespace'),
    fieldEnv('TP_AGENT_POD', 'metadata.name'),
    fieldEnv('TP_AGENT_POD_IP', 'status.podIP'),
    { name: 'TP_AGENT_PORTS', value: JSON.stringify(ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), agentPort: p.agentPort, appPort: p.appPort }))) },
  ];
  const volumeMounts = agentVolumeMounts(app, writable);
  if (volumeMounts.length > 0) env.push({ name: 'TP_AGENT_MOUNTS', value: JSON.stringify(volumeMounts.map((m, i) => ({ path: normalMountPath(app.volumeMounts![i].mountPath), at: m.mountPath, rw: !m.readOnly }))) });
  const containerPorts: V1ContainerPort[] = ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.agentPort, protocol: 'TCP' }));
  return {
    name: AGENT_CONTAINER,
    image: settings.image,
    args: ['agent', 'serve'],
    env,
    ...(app.envFrom ? { envFrom: structuredClone(app.envFrom) } : {}),
    ports: containerPorts,
    ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
    readinessProbe: { tcpSocket: { port: ports[0].agentPort }, periodSeconds: 1 },
    // Passes Pod Security "restricted" whatever the app sets: the agent only listens on its own
    // ports (FIRST_AGENT_PORT and up, above 1024) and dials out, so it needs no root and no capability.
    securityContext: restrictedSecurityContext(),
  };
}

/** `/a//b/` as `/a/b`: the form the agent and the laptop name a mount by. */
function normalMountPath(path: string): string {
  return '/' + path.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/** The app's mounts at the same paths under AGENT_VOLUMES_ROOT (same subPath; no propagation); see the top. */
function agentVolumeMounts(app: V1Container, writable: Set<string>): V1VolumeMount[] {
  return (app.volumeMounts ?? []).map((m) => ({
    name: m.name,
    mountPath: `${AGENT_VOLUMES_ROOT}${normalMountPath(m.mountPath)}`,
    readOnly: m.readOnly === true || !writable.has(m.name),
    ...(m.subPath ? { subPath: m.subPath } : {}),
    ...(m.subPathExpr ? { subPathExpr: m.subPathExpr } : {}),
  }));
}

/** The Service with its numeric targetPorts that the agent takes pointed at the agent; null if unchanged. */
export function patchService(service: V1Service, ports: PortMapping[]): V1Service | null {
  const recorded = readServiceOriginal(service);
  const original: Record<string, number | string> = { ...recorded };
  let changed = false;
  const servicePorts = (service.spec?.ports ?? []).map((sp) => {
    const key = String(sp.port);
    const target = key in original ? original[key] : (sp.targetPort ?? sp.port);
    if (typeof target !== 'number') return sp;
    const mapping = ports.find((p) => !p.name && p.appPort === target);
    if (!mapping || sp.targetPort === mapping.agentPort) return sp;
    original[key] = sp.targetPort ?? sp.port;
    changed = true;
    return { ...sp, targetPort: mapping.agentPort };
  });
  if (!changed) return null;
  const annotations = { ...service.metadata?.annotations, [SERVICE_ORIGINAL_ANNOTATION]: JSON.stringify(original) };
  return { ...service, metadata: { ...service.metadata, annotations }, spec: { ...service.spec, ports: servicePorts } };
}

/** The Service as it was before patchService; null when it carries no record of ours. */
export function restoreService(service: V1Service): V1Service | null {
  if (!service.metadata?.annotations?.[SERVICE_ORIGINAL_ANNOTATION]) return null;
  const original = readServiceOriginal(service);
  const servicePorts = (service.spec?.ports ?? []).map((sp) => (String(sp.port) in original ? { ...sp, targetPort: original[String(sp.port)] } : sp));
  const annotations = { ...service.metadata.annotations };
  delete annotations[SERVICE_ORIGINAL_ANNOTATION];
  const metadata = { ...service.metadata, annotations };
  if (Object.keys(annotations).length === 0) delete (metadata as { annotations?: unknown }).annotations;
  return { ...service, metadata, spec: { ...service.spec, ports: servicePorts } };
}

export function readServiceOriginal(service: V1Service): Record<string, number | string> {
  const raw = service.metadata?.annotations?.[SERVICE_ORIGINAL_ANNOTATION];
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, number | string>) : {};
  } catch {
    return {};
  }
}

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
// - the agent answers its kubelet readiness probe on a health port of its own (AGENT_HEALTH_PORT
//   or the next free one below it), never on a Service port: a probe there would be a connection
//   the agent forwards, to the laptop under a global intercept;
// - the pod template carries INJECTION_ANNOTATION, new at each write, so the pods of this
//   injection are told from those of an earlier one even when the two render alike.
// The original app container is kept whole in the workload annotation `tp.dev/agent-original`
// and each Service's original targetPorts in `tp.dev/original-target-port`, so restoring is
// putting back what was recorded, field for field. A workload whose app container is no longer
// what tp rendered from that record (its manifest applied again, `kubectl set image`) counts as
// re-applied: currentOriginal() takes that container, with tp's renames undone, as the original.
import type { V1Container, V1ContainerPort, V1EnvVar, V1PodTemplateSpec, V1Probe, V1Service, V1VolumeMount } from '@kubernetes/client-node';
import { AGENT_TOKEN_KEY, AGENT_TOKEN_SECRET, MANAGER_NAME, MANAGER_TUNNEL_PORT } from '../api/names.js';
import { restrictedSecurityContext } from '../api/pod-security.js';
import type { WorkloadKind } from '../api/control-api.js';

export const AGENT_CONTAINER = 'traffic-agent';
export const AGENT_ORIGINAL_ANNOTATION = 'tp.dev/agent-original';
export const SERVICE_ORIGINAL_ANNOTATION = 'tp.dev/original-target-port';
/** The agent sees the app's mount at `/etc/app` as `/tp/volumes/etc/app` (never over its own files). */
export const AGENT_VOLUMES_ROOT = '/tp/volumes';
export const INJECTION_ANNOTATION = 'tp.dev/agent-injection';
/** The agent's ports are 9900, 9901, … in the order they were taken, skipping ports a container of the pod declares and the app ports the agent forwards to. */
export const FIRST_AGENT_PORT = 9900;
/** The agent's health port: 9899, or the next one down that no container of the pod declares and no mapping takes (app ports included). */
export const AGENT_HEALTH_PORT = FIRST_AGENT_PORT - 1;
/** Cannot be a renamed app port (those start with `tp-`); left unnamed if the app uses it. */
export const HEALTH_PORT_NAME = 'tpagent-health';
/** Where the agent answers its readiness probe (src/agent/health.ts), like the TP_AGENT_* names part of the agent contract. */
const AGENT_READY_PATH = '/ready';
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
  /** This injection's mark on the pod template (INJECTION_ANNOTATION). */
  injection?: string;
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
  const restored: V1PodTemplateSpec = { ...template, spec: { ...spec, containers } };
  if (template.metadata?.annotations?.[INJECTION_ANNOTATION] !== undefined) {
    const annotations = { ...template.metadata.annotations };
    delete annotations[INJECTION_ANNOTATION];
    restored.metadata = { ...template.metadata, annotations };
    if (Object.keys(annotations).length === 0) delete restored.metadata.annotations;
  }
  return restored;
}

/** Why a template with an agent is rendered again: its app container changed, or its agent is gone or from before the health port. */
export type Repair = 'app changed' | 'agent missing' | 'agent outdated';

/**
 * The record to restore from: the recorded one, unless the template's app container is no longer
 * what injectAgent made of it (then that container with tp's renames undone); `repair` says why
 * the template must be rendered again, if it must. A record whose app container left the
 * template stays as it is (the injector then refuses with a conflict).
 */
export function currentOriginal(template: V1PodTemplateSpec, recorded: AgentOriginal): { original: AgentOriginal; repair?: Repair } {
  const containers = template.spec?.containers ?? [];
  const app = containers.find((c) => c.name === recorded.container.name);
  if (!app) return { original: recorded };
  const agent = containers.find((c) => c.name === AGENT_CONTAINER);
  if (canonical(app) !== canonical(patchApp(recorded.container, recorded.ports))) {
    const container = unpatchApp(app, recorded.ports);
    return { original: { ...recorded, container, ports: followNames(recorded.ports, container) }, repair: 'app changed' };
  }
  if (!agent) return { original: recorded, repair: 'agent missing' };
  if (!agent.env?.some((e) => e.name === 'TP_AGENT_HEALTH_PORT')) return { original: recorded, repair: 'agent outdated' };
  return { original: recorded };
}

/**
 * The mappings for a re-applied app container: a named one forwards to whatever port now has its
 * name, and goes when no port has it any more (the Service's targetPort reaches nothing in this pod,
 * as without tp); without that a moved port would get a second mapping of the same name, which
 * Kubernetes refuses, and the old one would forward to a port the app left. A numeric mapping stays:
 * its number is the Service's, and the app need not declare it.
 */
function followNames(ports: PortMapping[], app: V1Container): PortMapping[] {
  return ports.flatMap((p) => {
    if (!p.name) return [p];
    const now = app.ports?.find((q) => q.name === p.name);
    return now ? [{ ...p, appPort: now.containerPort }] : [];
  });
}

/** JSON with sorted keys, for comparing objects that went through the API server. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** The lowest port from `from` up (or, with step -1, down) that no container of the template declares and `taken` does not hold. */
export function freePort(template: V1PodTemplateSpec, from: number, step: 1 | -1, taken: number[] = []): number {
  const used = new Set([...taken, ...(template.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))]);
  let port = from;
  while (used.has(port)) port += step;
  return port;
}

/** What the agent must take: the app port a Service's targetPort reaches, and its name when the targetPort is named. */
export interface WantedPort {
  name?: string;
  appPort: number;
}

/**
 * The agent's mappings with one for `wanted`: the recorded one that matches it, or a new agent
 * port after the recorded ones that no container of `template` (the original) declares.
 */
export function mappingFor(template: V1PodTemplateSpec, recorded: PortMapping[], wanted: WantedPort): { ports: PortMapping[]; mapping: PortMapping; added: boolean } {
  const found = recorded.find((p) => p.appPort === wanted.appPort && (p.name ?? undefined) === wanted.name);
  if (found) return { ports: [...recorded], mapping: found, added: false };
  const mapping: PortMapping = {
    ...(wanted.name ? { name: wanted.name } : {}),
    agentPort: freePort(template, Math.max(FIRST_AGENT_PORT - 1, ...recorded.map((p) => p.agentPort)) + 1, 1, [wanted.appPort, ...portsUsed(recorded)]),
    appPort: wanted.appPort,
  };
  return { ports: [...recorded, mapping], mapping, added: true };
}

/** Every port a mapping takes, the app's too: an app need not declare the port a Service sends to. */
function portsUsed(ports: PortMapping[]): number[] {
  return ports.flatMap((p) => [p.agentPort, p.appPort]);
}

/** The template with the agent taking `ports` from container `appContainer` (from the ORIGINAL template). */
export function injectAgent(original: V1PodTemplateSpec, appContainer: string, ports: PortMapping[], settings: AgentSettings): V1PodTemplateSpec {
  const spec = original.spec!;
  const app = spec.containers.find((c) => c.name === appContainer);
  if (!app) throw new Error(`container ${appContainer} is not in the pod template`);
  const patchedApp = patchApp(app, ports);
  const containers = spec.containers.map((c) => (c.name === appContainer ? patchedApp : c));
  const health = { port: freePort(original, AGENT_HEALTH_PORT, -1, portsUsed(ports)), named: !spec.containers.some((c) => c.ports?.some((p) => p.name === HEALTH_PORT_NAME)) };
  containers.push(agentContainer(app, ports, health, settings, writableVolumes(original)));
  const annotations = settings.injection ? { ...original.metadata?.annotations, [INJECTION_ANNOTATION]: settings.injection } : original.metadata?.annotations;
  return { ...original, ...(annotations ? { metadata: { ...original.metadata, annotations } } : {}), spec: { ...spec, containers } };
}

/** The app container with its ports the agent took renamed `tp-<name>` (and the probes that named them following). */
function patchApp(app: V1Container, ports: PortMapping[]): V1Container {
  return renamePorts(app, new Map(ports.filter((p) => p.name).map((p) => [p.name!, renamedPortName(p.name!)])));
}

/** patchApp undone: the app's `tp-<name>` ports (and probes) named `<name>` again; a container with its names back stays as it is. */
function unpatchApp(app: V1Container, ports: PortMapping[]): V1Container {
  return renamePorts(app, new Map(ports.filter((p) => p.name).map((p) => [renamedPortName(p.name!), p.name!])));
}

function renamePorts(app: V1Container, renamed: Map<string, string>): V1Container {
  const next: V1Container = structuredClone(app);
  if (next.ports) next.ports = next.ports.map((p) => (p.name && renamed.has(p.name) ? { ...p, name: renamed.get(p.name) } : p));
  for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    if (next[probe]) next[probe] = renameProbePort(next[probe], renamed);
  }
  return next;
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

function agentContainer(app: V1Container, ports: PortMapping[], health: { port: number; named: boolean }, settings: AgentSettings, writable: Set<string>): V1Container {
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
    { name: 'TP_AGENT_HEALTH_PORT', value: String(health.port) },
  ];
  const volumeMounts = agentVolumeMounts(app, writable);
  if (volumeMounts.length > 0) env.push({ name: 'TP_AGENT_MOUNTS', value: JSON.stringify(volumeMounts.map((m, i) => ({ path: normalMountPath(app.volumeMounts![i].mountPath), at: m.mountPath, rw: !m.readOnly }))) });
  const containerPorts: V1ContainerPort[] = ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.agentPort, protocol: 'TCP' }));
  containerPorts.push({ ...(health.named ? { name: HEALTH_PORT_NAME } : {}), containerPort: health.port, protocol: 'TCP' });
  return {
    name: AGENT_CONTAINER,
    image: settings.image,
    args: ['agent', 'serve'],
    env,
    ...(app.envFrom ? { envFrom: structuredClone(app.envFrom) } : {}),
    ports: containerPorts,
    ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
    // Answered by the agent itself: ready once it serves its ports, whether or not the manager is
    // reachable (it then passes everything to the app), so a manager restart drops no endpoint.
    readinessProbe: { httpGet: { path: AGENT_READY_PATH, port: health.port }, periodSeconds: 1 },
    // Passes Pod Security "restricted" whatever the app sets: the agent only listens on its own
    // ports (around FIRST_AGENT_PORT, above 1024) and dials out, so it needs no root and no capability.
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

// Puts the traffic-agent into a workload and takes it out again, through the Kubernetes API:
// - prepare(): find the workload, the Service and port to intercept (workload-target.ts);
// - ensureAgent(): make sure the agent takes that port (patch the pod template, and the Service
//   for a numeric targetPort; keep the originals in annotations; create the namespace's agent
//   token Secret), also when it had the port but the workload changed since (its manifest applied
//   again gives the app the port's name back, so the Service bypasses the agent: the app container
//   as it is now becomes the original and the agent is put back); then wait until every pod runs
//   the new template and no pod of the old one is left, not even terminating (a terminating pod
//   may still take connections; bare ReplicaSets do not roll by themselves: their old pods are
//   deleted), reporting progress; a rollout whose pods the cluster refuses (rollout-failure.ts)
//   fails within seconds with the reason, and the injection is undone (unless the caller asks to
//   keep it);
// - uninstall(): restore workloads (their app container as it is now, tp's renames undone) and
//   Services from their annotations, and drop the Secret when no agent is left in the namespace;
//   for the manager, also wait until the agents' pods are gone and traffic through the Services
//   reaches the app again (service-path.ts).
// Used by the manager (intercept-service.ts) and by `tp manager uninstall` (install.ts), which
// removes agents with the user's own credentials before the manager goes.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Pod, type V1Secret, type V1Service } from '@kubernetes/client-node';
import { logger } from '../log/logger.js';
import { isNotFound, kubeCall, statusCode } from '../k8s/api-errors.js';
import {
  AGENT_CONTAINER,
  AGENT_ORIGINAL_ANNOTATION,
  currentOriginal,
  INJECTION_ANNOTATION,
  injectAgent,
  mappingFor,
  originalTemplate,
  patchService,
  readAgentOriginal,
  restoreService,
  type AgentOriginal,
  type PortMapping,
  type Repair,
} from './agent-patch.js';
import { AGENT_TOKEN_KEY, AGENT_TOKEN_SECRET } from '../api/names.js';
import { agentToken } from './agent-token.js';
import { InterceptError } from './intercept-errors.js';
import { fixFor, RolloutFailures } from './rollout-failure.js';
import { waitForServicePath } from './service-path.js';
import { selectorOf, templateOf, WorkloadApi, type Workload, type WorkloadObject } from './workload-api.js';
import { findTarget, selects, type InterceptTarget } from './workload-target.js';

const log = logger('tp:manager:injector');
/** The progress line of an injection that repaired the workload (agent-patch.ts currentOriginal). */
const REPAIRED: Record<Repair, string> = {
  'app changed': 'the app container changed since tp injected the traffic-agent (its manifest applied again?): put the agent back in the path of',
  'agent missing': 'the traffic-agent was taken out by something other than tp: put it back into',
  'agent outdated': 'updated the traffic-agent (an older tp injected it) in',
};
const POLL_MS = 500;
/** How often a rollout that makes no progress looks for the controller's reason (rollout-failure.ts). */
const FAILURE_CHECK_ROUNDS = 4;

export interface InjectorOptions {
  managerNamespace: string;
  /** The manager's client token, from which agent tokens are derived; not needed to uninstall. */
  clientToken?: string;
  /** The agent's image (the manager's own). */
  image?: () => Promise<string>;
}

export interface Prepared {
  workload: Workload;
  target: InterceptTarget;
  original: AgentOriginal | null;
}

export interface EnsuredAgent {
  mapping: PortMapping;
  /** False when the agent was already in place and every pod ran it: nothing moved. */
  changed: boolean;
}

export interface UninstallOptions {
  /** Wait until the agents' pods are gone and each Service reaches the app again (the manager does; `tp manager uninstall` cannot probe ClusterIPs from the laptop). */
  waitForPods?: { timeoutMs: number; progress(message: string): void };
  /** The workloads to restore, as withAgents() found them (the manager checks the caller's right to each first). */
  targets?: Workload[];
}

export class Injector {
  readonly workloads: WorkloadApi;
  private readonly core: CoreV1Api;
  private readonly failures: RolloutFailures;

  constructor(kc: KubeConfig, private readonly options: InjectorOptions) {
    this.workloads = new WorkloadApi(kc);
    this.core = kc.makeApiClient(CoreV1Api);
    this.failures = new RolloutFailures(kc);
  }

  async prepare(namespace: string, workloadName: string, wanted: { service?: string; servicePort?: string }): Promise<Prepared> {
    const workload = await this.workloads.find(namespace, workloadName);
    const original = originalOf(workload.object);
    const services = (await kubeCall(`listing Services in namespace ${namespace}`, () => this.core.listNamespacedService({ namespace }))).items;
    const target = findTarget(workload, originalTemplate(templateOf(workload.object), original), services, wanted);
    return { workload, target, original };
  }

  /** Makes the agent take the target's port; resolves once every pod runs it and no old pod is left. */
  async ensureAgent(prepared: Prepared, progress: (message: string) => void, timeoutMs = 120_000, options: { keepRefused?: boolean } = {}): Promise<EnsuredAgent> {
    const { workload, target } = prepared;
    const what = `${workload.kind}/${workload.name}`;
    if (!this.options.image) throw new Error('the injector needs the agent image to inject agents');
    const image = await this.options.image();
    await this.ensureSecret(workload.namespace);
    let mapping!: PortMapping;
    let repair: Repair | undefined;
    const updated = await this.workloads.update(workload, (object) => {
      const found = readAgentOriginal(object.metadata?.annotations);
      const current = found ? currentOriginal(templateOf(object), found) : null;
      const recorded = current?.original ?? null;
      repair = current?.repair;
      const template = originalTemplate(templateOf(object), recorded);
      const named = typeof target.targetPort === 'string' ? target.targetPort : undefined;
      const chosen = mappingFor(template, recorded?.ports ?? [], { ...(named ? { name: named } : {}), appPort: target.appPort });
      const ports = chosen.ports;
      mapping = chosen.mapping;
      if (recorded && recorded.container.name === target.container.name && !chosen.added && !repair) return null;
      if (recorded && recorded.container.name !== target.container.name) {
        throw new InterceptError('TP_ERR_INTERCEPT_CONFLICT', `The traffic-agent of ${what} already serves container "${recorded.container.name}"; uninstall it first (tp uninstall --agent ${workload.name}) to intercept container "${target.container.name}".`);
      }
      const app = template.spec!.containers.find((c) => c.name === target.container.name)!;
      const record: AgentOriginal = { managerNamespace: this.options.managerNamespace, container: structuredClone(app), ports };
      const injection = randomBytes(6).toString('hex');
      object.spec!.template = injectAgent(template, app.name, ports, { image, managerNamespace: this.options.managerNamespace, workload, injection });
      object.metadata!.annotations = { ...object.metadata!.annotations, [AGENT_ORIGINAL_ANNOTATION]: JSON.stringify(record) };
      return object;
    });
    if (updated) progress(repair ? `${REPAIRED[repair]} ${what}` : `injected the traffic-agent into ${what}`);
    const patched = patchService(target.service, [mapping]);
    if (patched) {
      await kubeCall(`updating Service ${workload.namespace}/${target.service.metadata!.name}`, () =>
        this.core.replaceNamespacedService({ name: patched.metadata!.name!, namespace: workload.namespace, body: patched }),
      );
      progress(`pointed Service ${target.service.metadata!.name} port ${target.servicePort.port} at the traffic-agent`);
    }
    let rolled: boolean;
    try {
      rolled = await this.waitForPods(workload, true, progress, timeoutMs);
    } catch (err) {
      // The cluster refuses the pods: put the workload back as it was, so its old pods keep serving
      // (unless the caller wants to look at the refused injection itself).
      if ((updated || patched) && (err as InterceptError).code === 'TP_ERR_INTERCEPT_PODS_REFUSED') {
        if (options.keepRefused) {
          throw new InterceptError('TP_ERR_INTERCEPT_PODS_REFUSED', `${(err as Error).message} The traffic-agent stays in ${what}, as asked; \`tp uninstall --agent ${workload.name} -n ${workload.namespace}\` puts the workload back.`);
        }
        await this.uninstall(workload.namespace, workload.name).catch((undo: unknown) => log.warn('!! could not undo the injection into %s: %s', what, (undo as Error).message));
        progress(`removed the traffic-agent from ${what} again`);
        throw new InterceptError('TP_ERR_INTERCEPT_PODS_REFUSED', `${(err as Error).message} tp removed the traffic-agent again, so the workload is as it was (\`tp intercept --keep-failed-injection\` leaves it, to look at with kubectl).`);
      }
      throw err;
    }
    return { mapping, changed: Boolean(updated) || Boolean(patched) || rolled };
  }

  /** The pods the workload's selector picks, terminating ones included. */
  async podsOf(workload: Workload): Promise<V1Pod[]> {
    const object = (await this.workloads.read(workload.kind, workload.name, workload.namespace)) ?? workload.object;
    return (await kubeCall('listing pods', () => this.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: selectorOf(object) }))).items;
  }

  /** Restores one workload (or every one with an agent of this manager in the namespace, or in all namespaces when namespace is null). */
  async uninstall(namespace: string | null, workloadName?: string, options: UninstallOptions = {}): Promise<Workload[]> {
    const withAgent = options.targets ?? (await this.withAgents(namespace, workloadName));
    const restored: { workload: Workload; services: V1Service[] }[] = [];
    for (const workload of withAgent) {
      await this.workloads.update(workload, (object) => restoreWorkload(object));
      restored.push({ workload, services: await this.restoreServices(workload) });
      if (workload.kind === 'ReplicaSet') await this.deleteStalePods(workload, false);
      log.info('-> restored %s/%s/%s', workload.namespace, workload.kind, workload.name);
    }
    const wait = options.waitForPods;
    for (const { workload, services } of wait ? restored : []) {
      await this.waitForPods(workload, false, wait!.progress, wait!.timeoutMs);
      for (const service of services) await this.waitForAppPath(workload, service, wait!.progress, wait!.timeoutMs);
    }
    for (const ns of new Set(withAgent.map((w) => w.namespace))) {
      const left = (await this.workloads.list(ns)).some((w) => readAgentOriginal(w.object.metadata?.annotations));
      if (!left) await this.core.deleteNamespacedSecret({ name: AGENT_TOKEN_SECRET, namespace: ns }).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
    }
    return withAgent;
  }

  /** What uninstall() would restore: the named workload if it has an agent, else every one with an agent of this manager. */
  async withAgents(namespace: string | null, workloadName?: string): Promise<Workload[]> {
    const all = workloadName ? [await this.workloads.find(namespace!, workloadName)] : await this.workloads.list(namespace);
    return all.filter((w) => readAgentOriginal(w.object.metadata?.annotations)?.managerNamespace === this.options.managerNamespace || (workloadName && readAgentOriginal(w.object.metadata?.annotations)));
  }

  /** Puts back the targetPorts of the Services selecting the workload; returns every such Service. */
  private async restoreServices(workload: Workload): Promise<V1Service[]> {
    const services = (await kubeCall(`listing Services in namespace ${workload.namespace}`, () => this.core.listNamespacedService({ namespace: workload.namespace }))).items;
    const template = originalTemplate(templateOf(workload.object), originalOf(workload.object));
    const selecting = services.filter((s) => selects(s, template));
    for (const service of selecting) {
      const restored = restoreService(service);
      if (!restored) continue;
      await kubeCall(`restoring Service ${workload.namespace}/${service.metadata!.name}`, () =>
        this.core.replaceNamespacedService({ name: service.metadata!.name!, namespace: workload.namespace, body: restored }),
      );
    }
    return selecting;
  }

  /** After an uninstall: every port of the Service reaches pods without the agent. */
  private async waitForAppPath(workload: Workload, service: V1Service, progress: (message: string) => void, timeoutMs: number): Promise<void> {
    for (const servicePort of service.spec?.ports ?? []) {
      if ((servicePort.protocol ?? 'TCP') !== 'TCP') continue;
      await waitForServicePath({
        core: this.core, namespace: workload.namespace, service, servicePort, changed: true, progress, timeoutMs,
        check: async (addresses) => {
          const withAgent = new Set((await this.podsOf(workload)).filter((p) => agentPortsOf(p.spec?.containers ?? []) !== '').map((p) => p.metadata!.name!));
          const stale = addresses.filter((a) => withAgent.has(a.targetRef?.name ?? ''));
          return stale.length ? `Service ${service.metadata!.name} still sends traffic to ${stale.length} pod(s) with the traffic-agent` : null;
        },
      });
    }
  }

  private async ensureSecret(namespace: string): Promise<void> {
    if (!this.options.clientToken) throw new Error('the injector needs the client token to make agent tokens');
    const token = Buffer.from(agentToken(this.options.clientToken, namespace)).toString('base64');
    const body: V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: AGENT_TOKEN_SECRET, namespace, labels: { 'app.kubernetes.io/part-of': 'tp' } }, type: 'Opaque', data: { [AGENT_TOKEN_KEY]: token } };
    const what = `Secret ${namespace}/${AGENT_TOKEN_SECRET}`;
    const existing = await this.core.readNamespacedSecret({ name: AGENT_TOKEN_SECRET, namespace }).catch((err: unknown) => (isNotFound(err) ? null : kubeCall(`reading ${what}`, () => Promise.reject(err))));
    if (existing?.data?.[AGENT_TOKEN_KEY] === token) return;
    if (existing) {
      await kubeCall(`updating ${what}`, () => this.core.replaceNamespacedSecret({ name: AGENT_TOKEN_SECRET, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } } }));
      return;
    }
    await this.core.createNamespacedSecret({ namespace, body }).catch((err: unknown) => (statusCode(err) === 409 ? undefined : kubeCall(`creating ${what}`, () => Promise.reject(err))));
  }

  /**
   * Waits until the workload's pods all run its current template (by the agent's port list; with
   * the agent or, after an uninstall, without it) and no pod of an older template is left at all:
   * a terminating pod is out of the Endpoints but may still take connections until it exits.
   * Returns whether it saw anything to wait for.
   */
  private async waitForPods(workload: Workload, withAgent: boolean, progress: (message: string) => void, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const since = new Date();
    const label = withAgent ? 'with the traffic-agent' : 'without the traffic-agent';
    let last = '';
    let refused: string | null = null;
    for (let round = 0; ; round++) {
      const object = (await this.workloads.read(workload.kind, workload.name, workload.namespace)) ?? workload.object;
      const want = object.spec?.replicas ?? 1;
      const wanted = injectionOf(templateOf(object));
      const pods = (await kubeCall('listing pods', () => this.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: selectorOf(object) }))).items;
      const current = pods.filter((p) => !p.metadata?.deletionTimestamp && injectionOf(p) === wanted);
      const ready = current.filter(isReady);
      const old = pods.filter((p) => injectionOf(p) !== wanted);
      const terminating = old.filter((p) => p.metadata?.deletionTimestamp);
      if (ready.length >= want && old.length === 0) return round > 0;
      if (workload.kind === 'ReplicaSet' && old.length > terminating.length) await this.deleteStalePods(workload, withAgent);
      const running = old.length - terminating.length;
      const message = rolloutProgress(`${workload.kind}/${workload.name}`, ready.length, want, label, running, terminating);
      if (message !== last) progress(message);
      last = message;
      if (round > 0 && round % FAILURE_CHECK_ROUNDS === 0) {
        // The same reason twice in a row: the controller keeps failing, it was no passing hiccup.
        const reason = await this.failures.find(workload, object, (rs) => injectionOf(rs.spec?.template ?? {}) === wanted, since);
        if (reason && reason === refused) {
          throw new InterceptError('TP_ERR_INTERCEPT_PODS_REFUSED', `Kubernetes refuses to create the pods of ${workload.kind}/${workload.name} ${label}: ${reason}. ${fixFor(reason, workload.namespace)}`);
        }
        refused = reason;
      }
      if (Date.now() > deadline) {
        const why = terminating.length && ready.length >= want
          ? ` The old pods are still shutting down: Kubernetes gives them their terminationGracePeriodSeconds before killing them, and they keep taking connections until they exit.`
          : '';
        throw new InterceptError('TP_ERR_INTERCEPT_ROLLOUT', `The pods of ${workload.kind}/${workload.name} did not all restart ${label} within ${Math.round(timeoutMs / 1000)} s (${message}).${why} See why: kubectl -n ${workload.namespace} describe pods -l ${selectorOf(object)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private async deleteStalePods(workload: Workload, withAgentWanted: boolean): Promise<void> {
    const object = (await this.workloads.read(workload.kind, workload.name, workload.namespace)) ?? workload.object;
    const wanted = withAgentWanted ? injectionOf(templateOf(object)) : '';
    const pods = (await this.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: selectorOf(object) })).items;
    for (const pod of pods.filter((p) => !p.metadata?.deletionTimestamp && injectionOf(p) !== wanted)) {
      await this.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: workload.namespace }).catch(() => undefined);
    }
  }
}

/** The workload with its template and annotations as they were before injection; null if it has no agent. */
export function restoreWorkload(object: WorkloadObject): WorkloadObject | null {
  const recorded = originalOf(object);
  if (!recorded) return null;
  object.spec!.template = originalTemplate(templateOf(object), recorded);
  const annotations = { ...object.metadata!.annotations };
  delete annotations[AGENT_ORIGINAL_ANNOTATION];
  object.metadata!.annotations = annotations;
  if (Object.keys(annotations).length === 0) delete object.metadata!.annotations;
  return object;
}

/** The app container to restore: the recorded one, or the workload's own once it was re-applied (agent-patch.ts currentOriginal). */
function originalOf(object: WorkloadObject): AgentOriginal | null {
  const recorded = readAgentOriginal(object.metadata?.annotations);
  return recorded && currentOriginal(templateOf(object), recorded).original;
}

/**
 * Which injection a pod (or template) belongs to: the agent's port list and the injection's mark
 * ('' for none at all). Pods of a re-applied template and of its repair carry the same port list,
 * only the mark tells them apart; injections by older versions have no mark.
 */
function injectionOf(pod: { metadata?: { annotations?: Record<string, string> }; spec?: { containers: { name: string; env?: { name: string; value?: string }[] }[] } }): string {
  const ports = agentPortsOf(pod.spec?.containers ?? []);
  const mark = pod.metadata?.annotations?.[INJECTION_ANNOTATION];
  return ports || mark ? `${ports}|${mark ?? ''}` : '';
}

function agentPortsOf(containers: { name: string; env?: { name: string; value?: string }[] }[]): string {
  const agent = containers.find((c) => c.name === AGENT_CONTAINER);
  return agent?.env?.find((e) => e.name === 'TP_AGENT_PORTS')?.value ?? '';
}

/** " (grace period N s)": how long Kubernetes lets them take before killing them. */
/** A rollout's progress line: "Deployment/web: 1 of 2 pods ready with the traffic-agent, 1 old pod still running". */
export function rolloutProgress(what: string, ready: number, want: number, label: string, running: number, terminating: V1Pod[]): string {
  const old = (n: number): string => `${n} old ${n === 1 ? 'pod' : 'pods'}`;
  return `${what}: ${ready} of ${want} pods ready ${label}${running ? `, ${old(running)} still running` : ''}${terminating.length ? `, ${old(terminating.length)} terminating${graceLeft(terminating)}` : ''}`;
}

function graceLeft(pods: V1Pod[]): string {
  const grace = Math.max(...pods.map((p) => p.metadata?.deletionGracePeriodSeconds ?? 0));
  return grace > 0 ? ` (grace period ${grace} s)` : '';
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

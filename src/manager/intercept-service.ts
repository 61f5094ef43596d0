// The manager's side of intercepts on tunnel sessions: what clients call (create, remove, list,
// uninstall agents), what agents call (hello, ready), and splicing each stream an agent opens for
// an intercepted connection to a stream toward the client holding the intercept. If that client
// has no live tunnel, or its open fails, the agent's open is rejected so the agent fails open
// (serves the app). A client session that expires loses its intercepts. A create answers ACTIVE
// only once no pod of the old template is left, every endpoint of the Service port is an agent
// of this manager, connections through the Service get through, and then every agent applied
// the intercept (until then it is held back from them). A create or an uninstall changes a
// workload only once the client proved, with its own credentials, that RBAC lets it patch that
// workload (rbac-proof.ts): the manager's ServiceAccount is no ladder past RBAC. Leaves out Kubernetes details
// (injector.ts, service-path.ts) and the bookkeeping (intercept-registry.ts). Used by server.ts.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { logger } from '../log/logger.js';
import type { IncomingOpen, Session, TunnelStream } from '../tunnel/index.js';
import { pipeBothWays } from '../net/pipe.js';
import {
  AgentMethod,
  InterceptEvent,
  InterceptMethod,
  INTERCEPT_STREAM_HOST,
  VOLUMES_STREAM_HOST,
  IngestMethod,
  type IngestParams,
  type IngestResult,
  type VolumesStreamMetadata,
  type WorkloadKind,
  type AgentHelloParams,
  type AgentReadyParams,
  type AgentUninstallParams,
  type AgentUninstallResult,
  type ChallengeParams,
  type ChallengeResult,
  type InterceptChangedBody,
  type InterceptCreateResult,
  type InterceptInfo,
  type InterceptListParams,
  type InterceptListResult,
  type InterceptProgress,
  type InterceptRemoveParams,
} from '../api/control-api.js';
import { readAgentOriginal } from '../inject/agent-patch.js';
import type { LaptopSessions } from './laptop-sessions.js';
import { Injector } from '../inject/injector.js';
import { InterceptError } from '../inject/intercept-errors.js';
import { InterceptRegistry, workloadKey, type AgentRecord } from './intercept-registry.js';
import { IngestBook } from './ingests.js';
import { validateSpec } from './intercept-spec.js';
import { PROOF_ANNOTATION, PROOF_TTL_MS, ProofBook } from './rbac-proof.js';
import type { Workload } from '../inject/workload-api.js';
import { waitForAgentPath, type AgentPathContext } from './agent-path.js';

const log = logger('tp:manager:intercepts');
/** How long a leave waits for the agents to confirm they dropped the intercept. */
const LEAVE_CONFIRM_MS = 10_000;
/** After the rollout: for the Service's endpoints and kube-proxy to follow, then for the agents to apply it. */
const PATH_TIMEOUT_MS = 60_000;
const APPLY_TIMEOUT_MS = 30_000;

export interface InterceptServiceOptions {
  kc: KubeConfig;
  managerNamespace: string;
  clientToken: string;
  /** The agent's image: the manager's own. */
  image: () => Promise<string>;
  sessions: LaptopSessions;
  /** How long a create waits for the rollout, then for the agents. Default 120 s. */
  rolloutTimeoutMs?: number;
}

type Caller = () => { sessionId: string; client: string } | undefined;

export class InterceptService {
  readonly registry = new InterceptRegistry();
  private readonly injector: Injector;
  private readonly proofs: ProofBook;
  private readonly core: CoreV1Api;
  private readonly clientTunnels = new Map<string, Set<Session>>();
  private readonly ingests = new IngestBook();

  constructor(private readonly options: InterceptServiceOptions) {
    this.core = options.kc.makeApiClient(CoreV1Api);
    this.injector = new Injector(options.kc, { managerNamespace: options.managerNamespace, clientToken: options.clientToken, image: options.image });
    this.proofs = new ProofBook(this.injector.workloads);
    options.sessions.on('expired', (session) => {
      for (const info of this.registry.bySession(session.id)) this.registry.remove(info.id, `the client session of ${session.client} expired`);
      this.ingests.forget(session.id);
    });
    this.registry.on('changed', (info) => this.notifyClient(info.clientSession, InterceptEvent.changed, { intercept: info } satisfies InterceptChangedBody));
  }

  /** A client tunnel joined (after its hello) or left its client session. */
  clientAttached(tunnel: Session, sessionId: string): void {
    let set = this.clientTunnels.get(sessionId);
    if (!set) this.clientTunnels.set(sessionId, (set = new Set()));
    set.add(tunnel);
    tunnel.once('close', () => {
      set.delete(tunnel);
      if (set.size === 0 && this.clientTunnels.get(sessionId) === set) this.clientTunnels.delete(sessionId);
    });
  }

  serveClient(tunnel: Session, caller: Caller): void {
    const who = () => {
      const c = caller();
      if (!c) throw new InterceptError('TP_ERR_INTERCEPT_FORBIDDEN', 'say hello before using intercepts');
      return c;
    };
    tunnel.handle(InterceptMethod.create, (params) => this.create(tunnel, who(), params));
    tunnel.handle(InterceptMethod.remove, async (params) => {
      const { id, name } = (params ?? {}) as InterceptRemoveParams;
      const mine = this.registry.bySession(who().sessionId).find((i) => i.id === id || (name !== undefined && i.name === name));
      if (!mine) throw new InterceptError('TP_ERR_INTERCEPT_NOT_FOUND', `You have no intercept named "${name ?? id}".`);
      const removed = this.registry.remove(mine.id, 'left');
      // Answer once the agents route to the app again, so that `tp leave` means it.
      await this.registry.waitDropped(workloadKey(mine.workload), mine.id, LEAVE_CONFIRM_MS);
      return { intercept: removed };
    });
    tunnel.handle(InterceptMethod.list, (params) => this.list(String((params as InterceptListParams)?.namespace ?? '')));
    tunnel.handle(InterceptMethod.challenge, (params) => this.challenge(who().sessionId, params as ChallengeParams));
    tunnel.handle(AgentMethod.uninstall, (params) => this.uninstall(who().sessionId, params as AgentUninstallParams));
    tunnel.handle(IngestMethod.create, (params) => this.ingest(tunnel, who(), params as IngestParams));
    tunnel.handle(IngestMethod.remove, (params) => {
      const w = (params ?? {}) as Partial<IngestResult['workload']>;
      return { removed: this.ingests.remove(who().sessionId, workloadKey({ kind: String(w.kind), name: String(w.name), namespace: String(w.namespace) })) };
    });
  }

  /** `tp ingest`: the workload gets an agent (if it has none), and this client its environment and the right to copy its files. */
  private async ingest(tunnel: Session, who: { sessionId: string; client: string }, params: IngestParams): Promise<IngestResult> {
    if (typeof params?.namespace !== 'string' || typeof params.workload !== 'string' || !params.namespace || !params.workload) {
      throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', 'an ingest needs a namespace and a workload');
    }
    const progress = (message: string) => {
      if (!tunnel.closed) tunnel.notify(InterceptEvent.progress, { workload: params.workload, message } satisfies InterceptProgress);
    };
    await this.proofs.check(who.sessionId, params.proof, [await this.injector.workloads.find(params.namespace, params.workload)]);
    const prepared = await this.injector.prepare(params.namespace, params.workload, {});
    const { workload, target } = prepared;
    if (params.container && params.container !== target.container.name) {
      throw new InterceptError('TP_ERR_INTERCEPT_NO_CONTAINER', `The traffic-agent of ${workload.kind}/${workload.name} serves container ${target.container.name}, not ${params.container}; tp ingest copies that container's environment and files.`);
    }
    const timeoutMs = this.options.rolloutTimeoutMs ?? 120_000;
    const { changed } = await this.injector.ensureAgent(prepared, progress, timeoutMs);
    // As for a create: answer once the Service reaches the app through the agents again, so the workload is serving.
    await waitForAgentPath(this.pathContext(), prepared, changed, progress, Math.min(timeoutMs, PATH_TIMEOUT_MS));
    const key = workloadKey(workload);
    const deadline = Date.now() + Math.min(timeoutMs, PATH_TIMEOUT_MS);
    for (;;) {
      const current = new Set((await this.injector.podsOf(workload)).filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!));
      const agent = this.registry.agentsOf(key).find((a) => current.has(a.hello.pod));
      if (agent) {
        this.ingests.add(who.sessionId, key);
        log.info('-> ingest of %s for %s', key, who.client);
        const environment = { ...agent.hello.environment, TP_CONTAINER: target.container.name, TP_POD_IP: agent.hello.podIp };
        return { workload: { kind: workload.kind, name: workload.name, namespace: workload.namespace }, container: target.container.name, pod: agent.hello.pod, podIp: agent.hello.podIp, environment };
      }
      if (Date.now() > deadline) throw new InterceptError('TP_ERR_INTERCEPT_NO_AGENT', `No traffic-agent of ${workload.kind}/${workload.name} connected to the traffic-manager in time.`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** An agent's tunnel: it may only speak for workloads of `namespace`. */
  serveAgent(tunnel: Session, namespace: string): void {
    let record: AgentRecord | null = null;
    let unregister: (() => void) | null = null;
    tunnel.handle(AgentMethod.hello, (params) => {
      const hello = params as AgentHelloParams;
      if (hello?.workload?.namespace !== namespace || typeof hello.workload.name !== 'string' || typeof hello.workload.kind !== 'string') {
        throw new InterceptError('TP_ERR_INTERCEPT_FORBIDDEN', `this agent token is for namespace "${namespace}" only`);
      }
      unregister?.();
      record = { hello, applied: new Set(), send: (body) => tunnel.notify(InterceptEvent.agentIntercepts, body), open: (o) => tunnel.open(o, { timeoutMs: 10_000 }) };
      // After the hello's answer has gone out, so the list arrives second.
      const current = record;
      setImmediate(() => {
        if (record === current && !tunnel.closed) unregister = this.registry.addAgent(current);
      });
      return { ok: true };
    });
    tunnel.handle(AgentMethod.ready, (params) => {
      const { ids } = (params ?? {}) as AgentReadyParams;
      if (record) this.registry.agentReady(record, Array.isArray(ids) ? ids.map(String) : []);
      return { ok: true };
    });
    tunnel.on('stream', (open: IncomingOpen) => void this.splice(open, namespace));
    tunnel.once('close', () => {
      record = null;
      unregister?.();
    });
  }

  close(): void {
    this.registry.close();
    this.clientTunnels.clear();
  }

  private async create(tunnel: Session, who: { sessionId: string; client: string }, params: unknown): Promise<InterceptCreateResult> {
    const spec = validateSpec(params);
    const timeoutMs = this.options.rolloutTimeoutMs ?? 120_000;
    const progress = (message: string) => {
      if (!tunnel.closed) tunnel.notify(InterceptEvent.progress, { workload: spec.workload, message } satisfies InterceptProgress);
    };
    // First the permission check, which also takes its mark off the workload whatever follows.
    await this.proofs.check(who.sessionId, (params as { proof?: unknown }).proof, [await this.injector.workloads.find(spec.namespace, spec.workload)]);
    const prepared = await this.injector.prepare(spec.namespace, spec.workload, { service: spec.service, servicePort: spec.servicePort });
    const { workload, target } = prepared;
    const personal = Object.keys(spec.headers ?? {}).length > 0 || !!spec.pathPrefix;
    const info = this.registry.add({
      name: spec.name ?? workload.name,
      workload: { kind: workload.kind, name: workload.name, namespace: workload.namespace },
      service: { name: target.service.metadata!.name!, port: target.servicePort.port, portName: target.servicePort.name, targetPort: target.targetPort },
      container: target.container.name,
      containerPort: target.appPort,
      mode: personal ? 'personal' : 'global',
      headers: personal ? spec.headers : undefined,
      pathPrefix: personal ? spec.pathPrefix : undefined,
      laptopAddress: spec.laptopAddress,
      laptopPort: spec.laptopPort,
      clientSession: who.sessionId,
      client: who.client,
    }, { held: true });
    try {
      const { changed, mapping } = await this.injector.ensureAgent(prepared, progress, timeoutMs, { keepRefused: spec.keepFailedInjection === true });
      // The daemon gives a create 300 s: the rollout (with old pods' grace periods) takes the most.
      await waitForAgentPath(this.pathContext(), prepared, changed, progress, Math.min(timeoutMs, PATH_TIMEOUT_MS), mapping.agentPort);
      this.registry.release(info.id);
      const active = await this.registry.waitActive(info.id, Math.min(timeoutMs, APPLY_TIMEOUT_MS));
      const agent = this.registry.agentsOf(workloadKey(info.workload))[0];
      const environment = { ...agent?.hello.environment, TP_INTERCEPT_ID: info.id, TP_CONTAINER: info.container, TP_POD_IP: agent?.hello.podIp ?? '' };
      log.info('-> %s active for %s', info.name, who.client);
      return { intercept: active, environment };
    } catch (err) {
      this.registry.remove(info.id, `could not be set up: ${(err as Error).message}`);
      throw err;
    }
  }

  private pathContext(): AgentPathContext {
    return { core: this.core, registry: this.registry, injector: this.injector };
  }

  private async list(namespace: string): Promise<InterceptListResult> {
    if (!namespace) throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', 'list needs a namespace');
    const workloads = await this.injector.workloads.list(namespace);
    return {
      namespace,
      workloads: workloads.map((w) => {
        const key = workloadKey(w);
        return { kind: w.kind, name: w.name, namespace: w.namespace, agentInstalled: readAgentOriginal(w.object.metadata?.annotations) !== null, agentsConnected: this.registry.agentsOf(key).length, intercepts: this.registry.byWorkload(key) };
      }),
    };
  }

  /** The workloads a create or uninstall would change, and the nonce the client proves its right to patch them with. */
  private async challenge(sessionId: string, params: ChallengeParams): Promise<ChallengeResult> {
    const targets = await this.targetsOf(params);
    const workloads = targets.map((w) => ({ kind: w.kind, name: w.name, namespace: w.namespace }));
    return { nonce: this.proofs.issue(sessionId, workloads), annotation: PROOF_ANNOTATION, workloads, expiresInMs: PROOF_TTL_MS };
  }

  /** The named workload, or (all) every workload with an agent of this manager in the namespace. */
  private async targetsOf(params: ChallengeParams): Promise<Workload[]> {
    const namespace = typeof params?.namespace === 'string' ? params.namespace : '';
    const workload = typeof params?.workload === 'string' ? params.workload : '';
    if (!namespace || (!workload && params.all !== true)) throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', 'a permission check needs a namespace and a workload, or all');
    return params.all === true ? this.injector.withAgents(namespace) : [await this.injector.workloads.find(namespace, workload)];
  }

  private async uninstall(sessionId: string, params: AgentUninstallParams): Promise<AgentUninstallResult> {
    if (!params?.namespace || (!params.workload && !params.all)) throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', 'uninstall needs a namespace and a workload, or all');
    const timeoutMs = this.options.rolloutTimeoutMs ?? 120_000;
    const targets = await this.injector.withAgents(params.namespace, params.all ? undefined : params.workload);
    await this.proofs.check(sessionId, params.proof, targets);
    const restored = await this.injector.uninstall(params.namespace, params.all ? undefined : params.workload, {
      targets,
      waitForPods: { timeoutMs, progress: (message) => log('.. uninstall: %s', message) },
    });
    const removedIntercepts: string[] = [];
    for (const w of restored) {
      for (const info of this.registry.byWorkload(workloadKey(w))) {
        this.registry.remove(info.id, `the traffic-agent of ${w.kind}/${w.name} was uninstalled`);
        removedIntercepts.push(info.name);
      }
    }
    return { restored: restored.map((w) => `${w.kind}/${w.name}`), removedIntercepts };
  }

  /** A client's volume-copy stream → the agent of the pod it names, if the client holds an intercept of that workload. */
  async spliceVolumes(open: IncomingOpen, sessionId: string | undefined): Promise<void> {
    const m = (open.metadata ?? {}) as Partial<VolumesStreamMetadata>;
    const key = workloadKey({ kind: m.kind as WorkloadKind, name: String(m.workload), namespace: String(m.namespace) });
    if (!sessionId || !(this.ingests.has(sessionId, key) || this.registry.bySession(sessionId).some((i) => workloadKey(i.workload) === key))) {
      return open.reject('forbidden', `a volume copy needs an intercept or an ingest of ${m.kind}/${m.workload} held by this client`);
    }
    // That pod's agent, else (the pod went, the manager restarted) another of the workload's.
    const agents = this.registry.agentsOf(key);
    const agent = agents.find((a) => a.hello.podIp === m.podIp) ?? agents[0];
    if (!agent?.open) return open.reject('unreachable', `no traffic-agent of ${m.kind}/${m.workload} at ${m.podIp} is connected`);
    let toAgent: TunnelStream;
    try {
      toAgent = await agent.open({ host: VOLUMES_STREAM_HOST, port: 0, metadata: { ...m } });
    } catch (err) {
      return open.reject('unreachable', `the traffic-agent in ${agent.hello.pod} did not take the volume copy: ${(err as Error).message}`);
    }
    if (open.settled) return void toAgent.destroy();
    pipeBothWays(open.accept(), toAgent, () => undefined);
  }

  private notifyClient(sessionId: string, type: string, body: unknown): void {
    for (const tunnel of this.clientTunnels.get(sessionId) ?? []) {
      if (tunnel.closed) continue;
      tunnel.notify(type, body);
      return;
    }
  }

  /** An agent's stream for an intercepted connection → a stream to the intercept's client. */
  private async splice(open: IncomingOpen, agentNamespace: string): Promise<void> {
    const id = String(open.metadata?.intercept ?? '');
    const info: InterceptInfo | undefined = this.registry.get(id);
    if (open.host !== INTERCEPT_STREAM_HOST || !info || info.workload.namespace !== agentNamespace) {
      return open.reject('refused', info ? 'not an intercept stream' : `no intercept ${id}`);
    }
    const tunnels = [...(this.clientTunnels.get(info.clientSession) ?? [])].filter((t) => t.live);
    if (tunnels.length === 0) return open.reject('unreachable', `the client holding intercept ${info.name} (${info.client}) is not connected`);
    const tunnel = tunnels.reduce((best, t) => (t.openStreamCount < best.openStreamCount ? t : best));
    let toClient: TunnelStream;
    try {
      toClient = await tunnel.open({ host: info.laptopAddress, port: info.laptopPort, metadata: open.metadata }, { timeoutMs: 10_000 });
    } catch (err) {
      log.info('!! %s: client open failed: %s', info.name, (err as Error).message);
      return open.reject('unreachable', `the client holding intercept ${info.name} did not take the connection: ${(err as Error).message}`);
    }
    if (open.settled) return void toClient.destroy();
    pipeBothWays(open.accept(), toClient, () => undefined);
  }
}

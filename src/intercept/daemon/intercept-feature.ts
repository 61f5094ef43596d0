// The daemon's part of intercepts (a daemon feature, see src/daemon/feature.ts): control methods
// for the CLI (`intercept.create/progress/remove/list/mine/uninstall`) forwarded to the manager;
// the streams the manager opens for our intercepts, dialled on the laptop (local-forwarder.ts);
// the manager's `changed` events; and, after a reconnect to a manager that forgot us (a restart),
// creating our intercepts again so they resume. Before each create or uninstall it proves to the
// manager, with the kubeconfig's own credentials, that it may patch the workloads (rbac-proof.ts).
// With a mount request, the pod's volume mounts are copied under a private directory and the
// environment gets TP_ROOT (volume-copies.ts); the copy goes when the intercept does.
// Its status section lists our intercepts.
import { logger } from '../../log/logger.js';
import { backoffDelayMs } from '../../daemon/backoff.js';
import type { DaemonContext, DaemonFeature, StartFeature } from '../../daemon/feature.js';
import { TpError } from '../../errors.js';
import {
  AgentMethod,
  InterceptEvent,
  InterceptMethod,
  type AgentUninstallParams,
  type AgentUninstallResult,
  type HelloResult,
  type InterceptChangedBody,
  type InterceptCreateResult,
  type InterceptInfo,
  type InterceptListResult,
  type InterceptProgress,
  type InterceptSpec,
} from '../../api/control-api.js';
import type { IncomingOpen } from '../../tunnel/index.js';
import { forwardToLaptop } from './local-forwarder.js';
import { proveRight } from '../rbac-proof.js';
import { remoteError } from '../remote-error.js';
import { VolumeCopies } from './volume-copies.js';
import { describe, InterceptControl, type CreateParams, type InterceptStatus } from '../control.js';
import { Ingests } from './ingests.js';

const log = logger('tp:intercept');
/** A create waits for the pods to roll: far longer than an ordinary request. */
const CREATE_TIMEOUT_MS = 300_000;
/** Re-creating an intercept after the manager forgot us: first wait, doubling up to the cap, jittered. */
const RECREATE_FIRST_DELAY_MS = 500;
const RECREATE_MAX_DELAY_MS = 10_000;
/** After this long the intercept stays WAITING with a message saying so; the user decides. */
const RECREATE_GIVE_UP_MS = 300_000;
const MAX_PROGRESS_LINES = 200;


export interface LocalIntercept {
  spec: InterceptSpec;
  info: InterceptInfo;
  environment: Record<string, string>;
  warning?: string;
}

export const startInterceptFeature: StartFeature = async (context) => {
  const feature = new InterceptFeature(context);
  await feature.volumes.sweep();
  return feature;
};

class InterceptFeature implements DaemonFeature {
  readonly name = 'intercepts';
  private readonly mine = new Map<string, LocalIntercept>();
  private readonly progress = new Map<string, { workload: string; lines: string[] }>();
  private recreating: string | null = null;
  private closed = false;
  readonly volumes: VolumeCopies;
  private readonly ingests: Ingests;

  constructor(private readonly context: DaemonContext) {
    const { control, link } = context;
    this.volumes = new VolumeCopies(link, context.paths);
    this.ingests = new Ingests(context, this.volumes, (what, method, params, timeoutMs) => this.request(what, method, params, timeoutMs), (params, doing) => this.prove(params, doing));
    control
      .handle(InterceptControl.create, (params) => this.create(params as CreateParams))
      .handle(InterceptControl.progress, (params) => {
        const entry = this.progress.get(String((params as { progressId?: string })?.progressId));
        return { lines: entry?.lines ?? [] };
      })
      .handle(InterceptControl.remove, (params) => this.remove(String((params as { name?: string })?.name ?? '')))
      .handle(InterceptControl.list, (params) => this.request<InterceptListResult>('listing workloads', InterceptMethod.list, { namespace: (params as { namespace?: string })?.namespace || context.namespace }))
      .handle(InterceptControl.mine, () => this.status())
      .handle(InterceptControl.uninstall, (params) => {
        const p = (params ?? {}) as Partial<AgentUninstallParams>;
        return this.uninstall({ namespace: p.namespace || context.namespace, workload: p.workload, all: p.all === true });
      });
    link.setIncomingStreamHandler((open) => this.incoming(open));
    link.on('event', this.onEvent);
    link.on('hello', this.onHello);
  }

  status(): InterceptStatus[] {
    return [...this.mine.values()].map(({ info, warning }) => {
      const copy = this.volumes.status(info.name);
      return { ...describe(info, warning ?? copy?.failure), ...(copy ? { mount: copy.dir } : {}) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.context.link.off('event', this.onEvent);
    this.context.link.off('hello', this.onHello);
    // Leave our intercepts so the workloads get their traffic back at once, not after the session expires.
    await Promise.allSettled([...this.mine.values()].map((m) => this.context.link.request(InterceptMethod.remove, { id: m.info.id }, 3000)));
    this.mine.clear();
    await this.ingests.closeAll();
    await this.volumes.closeAll();
  }

  private async create(params: CreateParams): Promise<InterceptCreateResult> {
    const spec: InterceptSpec = { ...params?.spec, namespace: params?.spec?.namespace || this.context.namespace } as InterceptSpec;
    const name = spec.name ?? (spec.namespace === this.context.namespace ? spec.workload : `${spec.workload}-${spec.namespace}`);
    spec.name = name;
    if (this.mine.has(name)) {
      throw new TpError('TP_ERR_INTERCEPT_CONFLICT', `You already have an intercept named "${name}".`, { hints: [`Leave it first: tp leave ${name}`, 'or give this one another --name.'] });
    }
    if (params.progressId) this.progress.set(params.progressId, { workload: spec.workload, lines: [] });
    try {
      const result = await this.createOnManager(spec, `creating intercept ${name}`);
      let copy: { dir?: string; warning?: string };
      try {
        copy = await this.volumes.start(name, result.intercept.workload, result.environment.TP_POD_IP ?? '', params.mount ?? { enabled: 'auto' });
      } catch (err) {
        await this.request(`leaving intercept ${name}`, InterceptMethod.remove, { id: result.intercept.id }).catch(() => undefined);
        throw err;
      }
      const environment = copy.dir ? { ...result.environment, TP_ROOT: copy.dir } : result.environment;
      this.mine.set(name, { spec, info: result.intercept, environment, warning: copy.warning });
      return { ...result, environment, ...(copy.warning ? { warning: copy.warning } : {}) };
    } finally {
      if (params.progressId) setTimeout(() => this.progress.delete(params.progressId!), 10_000).unref();
    }
  }

  /** The manager changes a workload only once we proved with our own credentials that we may (rbac-proof.ts). */
  private async createOnManager(spec: InterceptSpec, what: string): Promise<InterceptCreateResult> {
    const proof = await this.prove({ namespace: spec.namespace, workload: spec.workload }, `intercept ${spec.workload}`);
    return this.request<InterceptCreateResult>(what, InterceptMethod.create, { ...spec, proof }, CREATE_TIMEOUT_MS);
  }

  private async uninstall(params: AgentUninstallParams): Promise<AgentUninstallResult> {
    const proof = await this.prove(params, params.all ? `remove the traffic-agents in namespace ${params.namespace}` : `remove the traffic-agent of ${params.workload}`);
    return this.request<AgentUninstallResult>('uninstalling agents', AgentMethod.uninstall, { ...params, proof }, CREATE_TIMEOUT_MS);
  }

  private prove(params: { namespace: string; workload?: string; all?: boolean }, doing: string): Promise<string> {
    return proveRight(this.context.kc, (method, p) => this.request('checking your permission', method, p), params, doing);
  }

  private async remove(name: string): Promise<{ intercept: InterceptInfo }> {
    const local = this.mine.get(name);
    if (!local) {
      throw new TpError('TP_ERR_INTERCEPT_NOT_FOUND', `You have no intercept named "${name}".`, {
        hints: [this.mine.size ? `Yours: ${[...this.mine.keys()].join(', ')}` : 'You have no intercepts; `tp list` shows everyone\'s.'],
      });
    }
    this.mine.delete(name);
    await this.volumes.stop(name);
    const result = await this.request<{ intercept?: InterceptInfo }>(`leaving intercept ${name}`, InterceptMethod.remove, { id: local.info.id }).catch((err: TpError) => {
      // The manager forgot it already (expired, restarted): leaving it is done.
      if (err.code === 'TP_ERR_INTERCEPT_NOT_FOUND') return {} as { intercept?: InterceptInfo };
      throw err;
    });
    return { intercept: result.intercept ?? { ...local.info, state: 'REMOVED' } };
  }

  private async request<T>(what: string, method: string, params: unknown, timeoutMs = 30_000): Promise<T> {
    try {
      return (await this.context.link.request(method, params, timeoutMs)) as T;
    } catch (err) {
      throw remoteError(what, err);
    }
  }

  private incoming(open: IncomingOpen): void {
    const id = String(open.metadata?.intercept ?? '');
    const local = [...this.mine.values()].find((m) => m.info.id === id);
    if (!local) return open.reject('refused', `this client has no intercept ${id}`);
    forwardToLaptop(open, {
      name: local.info.name,
      laptopAddress: local.info.laptopAddress,
      laptopPort: local.info.laptopPort,
      setWarning: (warning) => {
        local.warning = warning;
      },
    });
  }

  private readonly onEvent = (type: string, body: unknown): void => {
    if (type === InterceptEvent.progress) {
      const { workload, message } = (body ?? {}) as InterceptProgress;
      for (const entry of this.progress.values()) if (entry.workload === workload && entry.lines.length < MAX_PROGRESS_LINES) entry.lines.push(String(message));
      return;
    }
    if (type !== InterceptEvent.changed) return;
    const info = (body as InterceptChangedBody)?.intercept;
    // After a manager restart our intercepts get new ids; until the re-create answers, the
    // manager's events for our session name them by the id we do not know yet.
    const local = info && ([...this.mine.values()].find((m) => m.info.id === info.id) ?? (info.clientSession === this.context.link.session ? this.mine.get(info.name) : undefined));
    if (!local) return;
    if (info.state === 'REMOVED') {
      log.warn('!! %s removed by the manager: %s', info.name, info.message);
      this.mine.delete(local.info.name);
      void this.volumes.stop(local.info.name);
    } else {
      local.info = info;
    }
  };

  private readonly onHello = (hello: HelloResult): void => {
    if (hello.resumed || this.mine.size === 0 || this.recreating === hello.sessionId) return;
    this.recreating = hello.sessionId;
    void this.recreateAll(hello.sessionId);
  };

  /** Takes over the manager's intercept of ours with this name, if it has one. */
  private async adoptExisting(local: LocalIntercept, sessionId: string): Promise<boolean> {
    const namespace = local.spec.namespace;
    const list = (await this.context.link.request(InterceptMethod.list, { namespace }, 10_000).catch(() => null)) as InterceptListResult | null;
    const found = list?.workloads.flatMap((w) => w.intercepts).find((i) => i.clientSession === sessionId && i.name === local.info.name);
    if (found) local.info = found;
    return found !== undefined;
  }

  /** The manager forgot our session: create every intercept again under the new one. */
  private async recreateAll(sessionId: string): Promise<void> {
    for (const local of [...this.mine.values()]) {
      if (local.info.clientSession === sessionId) continue;
      const staleId = local.info.id;
      const giveUpAt = Date.now() + RECREATE_GIVE_UP_MS;
      for (let attempt = 1; !this.closed && this.mine.get(local.info.name) === local; attempt++) {
        try {
          const result = await this.createOnManager(local.spec, `resuming intercept ${local.info.name}`);
          local.info = result.intercept;
          local.environment = result.environment;
          log.info('-> %s resumed as %s', local.info.name, local.info.id);
          break;
        } catch (err) {
          log.warn('!! resuming %s (attempt %d): %s', local.info.name, attempt, (err as Error).message);
          // An earlier attempt may have reached the manager after all: an event brought the new
          // intercept, or the manager holds one of ours under this name.
          if (local.info.id !== staleId || (await this.adoptExisting(local, sessionId))) break;
          if (Date.now() >= giveUpAt) {
            local.info = { ...local.info, state: 'WAITING', message: `could not resume after the manager restarted (gave up after ${attempt} attempts): ${(err as Error).message}; leave it (tp leave ${local.info.name}) and intercept again` };
            break;
          }
          const delay = backoffDelayMs(attempt, RECREATE_FIRST_DELAY_MS, RECREATE_MAX_DELAY_MS);
          local.info = { ...local.info, state: 'WAITING', message: `resuming after the manager restarted (attempt ${attempt}, next in ${(delay / 1000).toFixed(1)} s): ${(err as Error).message}` };
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    }
    if (this.recreating === sessionId) this.recreating = null;
  }
}

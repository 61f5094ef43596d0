// The daemon's part of `tp ingest` (control methods `ingest.create`, `ingest.remove`): proves the
// right to patch the workload, asks the manager for an ingest (an agent in the workload, no
// traffic taken), copies the pod's mounts like an intercept does (volume-copies.ts) and answers
// with the environment (plus TP_ROOT). Several users may ingest one workload: each has its own
// copy; the workload keeps serving. Ingests end with ingest.remove, the daemon's quit, or the
// client session's expiry at the manager; a manager that forgot our session (a restart) is asked
// for them again, so their copies can follow again. Used by intercept-feature.ts.
import { logger } from '../../log/logger.js';
import { TpError } from '../../errors.js';
import { IngestMethod, type HelloResult, type IngestParams, type IngestResult } from '../../api/control-api.js';
import type { DaemonContext } from '../../daemon/feature.js';
import type { MountRequest, VolumeCopies } from './volume-copies.js';

const log = logger('tp:ingest');
const CREATE_TIMEOUT_MS = 300_000;

export const IngestControl = {
  create: 'ingest.create',
  remove: 'ingest.remove',
} as const;

export interface IngestCreateParams {
  workload: string;
  namespace?: string;
  container?: string;
  mount?: MountRequest;
}

export interface IngestCreated {
  name: string;
  workload: string;
  pod: string;
  environment: Record<string, string>;
  warning?: string;
}

type Request = <T>(what: string, method: string, params: unknown, timeoutMs?: number) => Promise<T>;
type Prove = (params: { namespace: string; workload: string }, doing: string) => Promise<string>;

export class Ingests {
  private readonly mine = new Map<string, IngestResult>();

  constructor(private readonly context: DaemonContext, private readonly volumes: VolumeCopies, private readonly request: Request, private readonly prove: Prove) {
    context.control
      .handle(IngestControl.create, (params) => this.create(params as IngestCreateParams))
      .handle(IngestControl.remove, (params) => this.remove(params as IngestCreateParams));
    context.link.on('hello', this.onHello);
  }

  private readonly onHello = (hello: HelloResult): void => {
    if (hello.resumed) return;
    for (const [name, result] of this.mine) {
      const { namespace, name: workload } = result.workload;
      void this.prove({ namespace, workload }, `ingest ${workload}`)
        .then((proof) => this.request<IngestResult>(`ingesting ${workload} again`, IngestMethod.create, { namespace, workload, proof } satisfies IngestParams, CREATE_TIMEOUT_MS))
        .then(() => log.info('-> %s: the manager has it again', name), (err: Error) => log.warn('!! %s: asking the manager again failed: %s', name, err.message));
    }
  };

  status(): { name: string; workload: string; pod: string; mount?: string }[] {
    return [...this.mine].map(([name, r]) => ({ name, workload: `${r.workload.kind}/${r.workload.name} in ${r.workload.namespace}`, pod: r.pod, ...(this.volumes.status(name) ? { mount: this.volumes.status(name)!.dir } : {}) }));
  }

  private nameOf(workload: string, namespace: string): string {
    return `ingest-${workload.replace(/[^A-Za-z0-9.-]/g, '-')}-${namespace}`;
  }

  private async create(params: IngestCreateParams): Promise<IngestCreated> {
    const namespace = params?.namespace || this.context.namespace;
    const workload = String(params?.workload ?? '');
    const name = this.nameOf(workload, namespace);
    if (this.mine.has(name)) throw new TpError('TP_ERR_INTERCEPT_CONFLICT', `You already ingest ${workload} in ${namespace}.`, { hints: [`End it first: tp ingest ${workload} --leave`] });
    const proof = await this.prove({ namespace, workload }, `ingest ${workload}`);
    const result = await this.request<IngestResult>(`ingesting ${workload}`, IngestMethod.create, { namespace, workload, container: params.container, proof } satisfies IngestParams, CREATE_TIMEOUT_MS);
    this.mine.set(name, result);
    let copy: { dir?: string; warning?: string };
    try {
      copy = await this.volumes.start(name, result.workload, result.podIp, params.mount ?? { enabled: 'auto' });
    } catch (err) {
      await this.end(name);
      throw err;
    }
    log.info('-> %s: %s/%s from pod %s', name, result.workload.kind, result.workload.name, result.pod);
    return { name, workload: `${result.workload.kind}/${result.workload.name}`, pod: result.pod, environment: copy.dir ? { ...result.environment, TP_ROOT: copy.dir } : result.environment, ...(copy.warning ? { warning: copy.warning } : {}) };
  }

  private async remove(params: IngestCreateParams): Promise<{ removed: string }> {
    const name = this.nameOf(String(params?.workload ?? ''), params?.namespace || this.context.namespace);
    if (!this.mine.has(name)) throw new TpError('TP_ERR_INTERCEPT_NOT_FOUND', `You do not ingest ${params?.workload}.`);
    await this.end(name);
    return { removed: name };
  }

  private async end(name: string): Promise<void> {
    const result = this.mine.get(name);
    this.mine.delete(name);
    await this.volumes.stop(name);
    if (result) await this.request('ending the ingest', IngestMethod.remove, result.workload, 5000).catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    this.context.link.off('hello', this.onHello);
    await Promise.allSettled([...this.mine.keys()].map((name) => this.end(name)));
  }
}

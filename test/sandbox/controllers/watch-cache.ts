// One informer (list, then watch) over a resource, as controllers use them: a local cache of the
// objects plus change callbacks. Wraps client-node's makeInformer, whose watch stops for good on an
// error, with a restart after a short delay, so a restarted API server or a dropped watch heals.
// Leaves out indexes (lists here are small enough to filter). Used by every controller here.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import createDebug from 'debug';
import { getJson } from './raw-request.js';
import { describe } from './work-queue.js';

const log = createDebug('tp:sandbox:watch');
const RESTART_DELAY_MS = 1_000;

export type ChangeHandler<T> = (obj: T, event: 'add' | 'update' | 'delete') => void;

export class WatchCache<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly handlers: ChangeHandler<T>[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `path` is a collection path such as /api/v1/pods; lists and watches cover every namespace. */
  constructor(
    kc: KubeConfig,
    private readonly path: string,
  ) {
    this.informer = makeInformer<T>(kc, path, () => getJson<KubernetesListObject<T>>(kc, path));
    this.informer.on('add', (obj) => this.emit(obj, 'add'));
    this.informer.on('update', (obj) => this.emit(obj, 'update'));
    this.informer.on('delete', (obj) => this.emit(obj, 'delete'));
    this.informer.on('error', (error) => this.restart(error));
  }

  onChange(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Lists and starts watching; resolves once the cache holds the first list. */
  async start(): Promise<void> {
    await this.informer.start();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  private emit(obj: T, event: 'add' | 'update' | 'delete'): void {
    for (const handler of this.handlers) handler(obj, event);
  }

  private restart(error: unknown): void {
    if (this.closed) return;
    log('!! watch %s ended: %s; restarting', this.path, describe(error));
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.informer.start().catch((startError: unknown) => this.restart(startError));
    }, RESTART_DELAY_MS);
    this.restartTimer.unref();
  }
}

// API access for the node part: a KubeConfig built from a server URL, the sandbox CA and a bearer
// token (the node part never reads kubeconfig files or touches the API server's internals), and a
// watch cache over one resource. Leaves out client certificates and exec plugins.
// Used by the kubelet, kube-proxy and the node agent.
import { KubeConfig, makeInformer, type Informer, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import debug from 'debug';

const log = debug('tp:sandbox:watch');
const RESTART_DELAY_MS = 500;

export interface ApiAccess {
  server: string;
  caCert: string;
  token: string;
  /** TLS name to check instead of the server URL's host (e.g. when dialing 198.18.0.1). */
  tlsServerName?: string;
}

export function makeKubeConfig(access: ApiAccess): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'sandbox', server: access.server, caData: Buffer.from(access.caCert).toString('base64'), tlsServerName: access.tlsServerName, skipTLSVerify: false }],
    users: [{ name: 'node', token: access.token }],
    contexts: [{ name: 'sandbox', cluster: 'sandbox', user: 'node' }],
    currentContext: 'sandbox',
  });
  return kc;
}

export type ChangeKind = 'add' | 'update' | 'delete';

/**
 * A list+watch cache of one collection across all namespaces. client-node's informer stops on an
 * error; this restarts it after a short delay so an API restart or a dropped watch heals.
 */
export class WatchCache<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly handlers: ((obj: T, kind: ChangeKind) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(kc: KubeConfig, readonly path: string, list: () => Promise<KubernetesListObject<T>>) {
    this.informer = makeInformer<T>(kc, path, list);
    this.informer.on('add', (obj) => this.emit(obj, 'add'));
    this.informer.on('update', (obj) => this.emit(obj, 'update'));
    this.informer.on('delete', (obj) => this.emit(obj, 'delete'));
    this.informer.on('error', (error: unknown) => {
      if (this.closed) return;
      log('!! %s: %s; restarting', path, (error as Error)?.message ?? error);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => { if (!this.closed) this.informer.start().catch(() => undefined); }, RESTART_DELAY_MS);
    });
  }

  onChange(handler: (obj: T, kind: ChangeKind) => void): void {
    this.handlers.push(handler);
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  list(): T[] {
    return [...this.informer.list()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }

  private emit(obj: T, kind: ChangeKind): void {
    for (const handler of this.handlers) {
      try { handler(obj, kind); } catch (error) { log('!! handler for %s: %s', this.path, error); }
    }
  }
}

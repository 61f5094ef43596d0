// What clients need to know about the cluster to route for it: its DNS domain, the service and pod
// address ranges, and the namespaces (so `svc.ns` names are recognised). Kept current by watching
// the Kubernetes API with informers; emits 'change' when any of it changes. Used by the manager's
// session handling, which pushes it to connected clients.
//
// Kubernetes publishes no API for the service and pod ranges that every cluster has, so they are
// configured (env/flags) or learned: each observed ClusterIP or pod IP is covered by its /16 (IPv4)
// or /64 (IPv6). That over-approximates a little, which only sends a few extra addresses through
// the cluster, where they fail as they would from a pod.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type KubernetesObject, type V1Namespace, type V1Pod, type V1Service } from '@kubernetes/client-node';
import type { ClusterInfo } from '../api/cluster-info.js';
import { logger } from '../log/logger.js';
import { formatIp, parseIp } from '../net/cidr.js';

const log = logger('tp:manager:cluster');

export interface ClusterWatcherOptions {
  clusterDomain?: string;
  /** Fixed ranges; when given, the matching kind is not learned. */
  serviceCidrs?: string[];
  podCidrs?: string[];
}

export class ClusterWatcher extends EventEmitter {
  private readonly informers: Informer<KubernetesObject>[] = [];
  private readonly namespaces = new Set<string>();
  private readonly serviceIps = new Map<string, string[]>();
  private readonly podIps = new Map<string, string[]>();
  private readonly clusterDomain: string;
  private current: ClusterInfo;
  private closed = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: ClusterWatcherOptions = {},
  ) {
    super();
    this.clusterDomain = options.clusterDomain ?? clusterDomainFromResolvConf() ?? 'cluster.local';
    this.current = this.compute();
  }

  async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const watch = <T extends KubernetesObject>(path: string, list: () => Promise<{ items: T[] }>, update: (obj: T, gone: boolean) => void) => {
      const informer = makeInformer<T>(this.kc, path, list as never);
      informer.on('add', (obj) => this.apply(() => update(obj, false)));
      informer.on('update', (obj) => this.apply(() => update(obj, false)));
      informer.on('delete', (obj) => this.apply(() => update(obj, true)));
      informer.on('error', (err) => {
        log.warn('!! watch %s: %s; restarting in 2 s', path, (err as Error)?.message ?? err);
        setTimeout(() => !this.closed && void informer.start().catch(() => undefined), 2000);
      });
      this.informers.push(informer as unknown as Informer<KubernetesObject>);
      return informer.start();
    };
    await Promise.all([
      watch<V1Namespace>('/api/v1/namespaces', () => core.listNamespace(), (ns, gone) => {
        if (gone) this.namespaces.delete(ns.metadata!.name!);
        else this.namespaces.add(ns.metadata!.name!);
      }),
      this.options.serviceCidrs
        ? Promise.resolve()
        : watch<V1Service>('/api/v1/services', () => core.listServiceForAllNamespaces(), (svc, gone) => {
            const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
            if (gone) this.serviceIps.delete(key);
            else this.serviceIps.set(key, (svc.spec?.clusterIPs ?? [svc.spec?.clusterIP ?? '']).filter((ip) => parseIp(ip)));
          }),
      this.options.podCidrs
        ? Promise.resolve()
        : watch<V1Pod>('/api/v1/pods', () => core.listPodForAllNamespaces(), (pod, gone) => {
            const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
            if (gone) this.podIps.delete(key);
            else this.podIps.set(key, (pod.status?.podIPs ?? []).map((p) => p.ip ?? '').filter((ip) => parseIp(ip)));
          }),
    ]);
    this.current = this.compute();
  }

  info(): ClusterInfo {
    return this.current;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private apply(update: () => void): void {
    update();
    const next = this.compute();
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    this.emit('change', next);
  }

  private compute(): ClusterInfo {
    return {
      clusterDomain: this.clusterDomain,
      serviceCidrs: this.options.serviceCidrs ?? coveringCidrs([...this.serviceIps.values()].flat()),
      podCidrs: this.options.podCidrs ?? coveringCidrs([...this.podIps.values()].flat()),
      namespaces: [...this.namespaces].sort(),
    };
  }
}

/** The /16 (IPv4) or /64 (IPv6) networks that cover the given addresses, sorted and unique. */
export function coveringCidrs(ips: string[]): string[] {
  const networks = new Set<string>();
  for (const ip of ips) {
    const bytes = parseIp(ip);
    if (!bytes) continue;
    const keep = bytes.length === 4 ? 2 : 8;
    const network = new Uint8Array(bytes.length);
    network.set(bytes.subarray(0, keep));
    networks.add(`${canonical(formatIp(network))}/${keep * 8}`);
  }
  return [...networks].sort();
}

/** IPv6 in its shortest form (fd00:10:96::), as users write it; IPv4 as is. */
function canonical(ip: string): string {
  return ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** The cluster domain from a pod's resolv.conf search path (`<ns>.svc.<domain> svc.<domain> <domain>`). */
export function clusterDomainFromResolvConf(path = '/etc/resolv.conf'): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const search = text.split('\n').find((line) => line.trim().startsWith('search'));
  const domain = search?.trim().split(/\s+/).slice(1).find((d) => d.startsWith('svc.'));
  return domain?.slice('svc.'.length).replace(/\.$/, '');
}

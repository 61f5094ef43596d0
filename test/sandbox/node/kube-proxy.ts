// The sandbox's kube-proxy: watches Services and Endpoints through the API, turns them into
// ServiceRules (a service port matches the endpoint port of the same name; ready addresses only;
// no endpoints → a reject rule) and applies the whole set with network.syncServices(). Like a real
// kube-proxy (iptables/nftables mode, --min-sync-period 1s), a change reaches the rules only after a
// delay (syncDelayMs, default 1 s; env TP_SANDBOX_KUBE_PROXY_DELAY_MS in the sandbox): for that long
// a pod that has left the Endpoints still gets new connections, and a new one gets none. Changes
// within a few milliseconds of each other become one nft transaction. Leaves out EndpointSlices (Endpoints carry the
// same data here), NodePorts, LoadBalancers and session affinity. Used by the sandbox main process.
import { CoreV1Api, type KubeConfig, type V1Endpoints, type V1Service } from '@kubernetes/client-node';
import debug from 'debug';
import { makeKubeConfig, WatchCache, type ApiAccess } from './kube-client.js';
import type { NodeNetwork, ServiceRule } from './network.js';

const log = debug('tp:sandbox:kube-proxy');
/** Real kube-proxy's default --iptables-min-sync-period / --nftables-min-sync-period. */
export const DEFAULT_SYNC_DELAY_MS = 1000;
/** Changes this close together are one snapshot (one nft transaction). */
const DEBOUNCE_MS = 20;

export interface KubeProxyOptions {
  api?: ApiAccess;
  kubeconfig?: KubeConfig;
  network: Pick<NodeNetwork, 'syncServices'>;
  /** How long after a change of Services or Endpoints the rules follow (default 1 s). */
  syncDelayMs?: number;
}

export interface KubeProxy {
  /** Resolves once the rules for the API state seen so far are applied, after the usual delay (for tests). */
  synced(): Promise<void>;
  close(): Promise<void>;
}

/** The rules for a set of services and endpoints (pure; tests use it directly). */
export function computeServiceRules(services: V1Service[], endpoints: V1Endpoints[]): ServiceRule[] {
  const rules: ServiceRule[] = [];
  for (const service of services) {
    const ip = service.spec?.clusterIP;
    if (!ip || ip === 'None' || service.spec?.type === 'ExternalName') continue;
    const ns = service.metadata?.namespace;
    const name = service.metadata?.name;
    const subsets = endpoints.find((e) => e.metadata?.namespace === ns && e.metadata?.name === name)?.subsets ?? [];
    for (const port of service.spec?.ports ?? []) {
      const protocol = port.protocol === 'UDP' ? 'UDP' : port.protocol === 'SCTP' ? undefined : 'TCP';
      if (!protocol) continue;
      const targets = new Map<string, { ip: string; port: number }>();
      for (const subset of subsets) {
        const endpointPort = (subset.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === protocol);
        if (!endpointPort) continue;
        for (const address of subset.addresses ?? []) targets.set(`${address.ip}:${endpointPort.port}`, { ip: address.ip, port: endpointPort.port });
      }
      rules.push({ clusterIP: ip, port: port.port, protocol, endpoints: [...targets.values()], name: `${ns}/${name}:${port.name ?? port.port}` });
    }
  }
  return rules;
}

export async function startKubeProxy(options: KubeProxyOptions): Promise<KubeProxy> {
  const kc = options.kubeconfig ?? (options.api ? makeKubeConfig(options.api) : undefined);
  if (!kc) throw new Error('startKubeProxy needs api or kubeconfig');
  const core = kc.makeApiClient(CoreV1Api);
  const services = new WatchCache<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const endpoints = new WatchCache<V1Endpoints>(kc, '/api/v1/endpoints', () => core.listEndpointsForAllNamespaces());
  const delayMs = options.syncDelayMs ?? DEFAULT_SYNC_DELAY_MS;
  const timers = new Set<NodeJS.Timeout>();
  let running: Promise<void> = Promise.resolve();
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  /** Applies one snapshot of the rules, in order after the ones before it. */
  const apply = (rules: ServiceRule[]): Promise<void> => {
    running = running.then(async () => {
      if (closed) return;
      try {
        await options.network.syncServices(rules);
        log('-> %d rules', rules.length);
      } catch (error) {
        log('!! sync: %s', (error as Error).message);
      }
    });
    return running;
  };
  // A delay line: the state seen now (a burst of changes within DEBOUNCE_MS counts as one) reaches
  // the node delayMs later, so every change lags by the same amount, whatever follows it.
  const schedule = (): void => {
    if (debounce || closed) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      const rules = computeServiceRules(services.list(), endpoints.list());
      const timer = setTimeout(() => {
        timers.delete(timer);
        void apply(rules);
      }, delayMs);
      timers.add(timer);
    }, DEBOUNCE_MS);
  };
  services.onChange(schedule);
  endpoints.onChange(schedule);
  await Promise.all([services.start(), endpoints.start()]);
  await apply(computeServiceRules(services.list(), endpoints.list()));

  return {
    synced: async () => {
      while (debounce || timers.size > 0) await new Promise((resolve) => setTimeout(resolve, DEBOUNCE_MS));
      await running;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      for (const timer of timers) clearTimeout(timer);
      await Promise.all([services.close(), endpoints.close()]);
      await running;
    },
  };
}

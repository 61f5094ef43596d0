// The sandbox's kube-proxy: watches Services and Endpoints through the API, turns them into
// ServiceRules (a service port matches the endpoint port of the same name; ready addresses only;
// no endpoints → a reject rule) and applies the whole set with network.syncServices(), debounced so
// a burst of changes becomes one nft transaction. Leaves out EndpointSlices (Endpoints carry the
// same data here), NodePorts, LoadBalancers and session affinity. Used by the sandbox main process.
import { CoreV1Api, type KubeConfig, type V1Endpoints, type V1Service } from '@kubernetes/client-node';
import debug from 'debug';
import { makeKubeConfig, WatchCache, type ApiAccess } from './kube-client.js';
import type { NodeNetwork, ServiceRule } from './network.js';

const log = debug('tp:sandbox:kube-proxy');
const DEBOUNCE_MS = 20;

export interface KubeProxyOptions {
  api?: ApiAccess;
  kubeconfig?: KubeConfig;
  network: Pick<NodeNetwork, 'syncServices'>;
}

export interface KubeProxy {
  /** Resolves once the rules for the current API state are applied (for tests). */
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
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let pending = false;
  let closed = false;

  const sync = (): Promise<void> => {
    running = running.then(async () => {
      if (closed) return;
      pending = false;
      const rules = computeServiceRules(services.list(), endpoints.list());
      try {
        await options.network.syncServices(rules);
        log('-> %d rules', rules.length);
      } catch (error) {
        log('!! sync: %s', (error as Error).message);
      }
    });
    return running;
  };
  const schedule = (): void => {
    pending = true;
    clearTimeout(timer);
    timer = setTimeout(() => void sync(), DEBOUNCE_MS);
  };
  services.onChange(schedule);
  endpoints.onChange(schedule);
  await Promise.all([services.start(), endpoints.start()]);
  await sync();

  return {
    synced: async () => {
      if (pending) { clearTimeout(timer); await sync(); }
      await running;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await Promise.all([services.close(), endpoints.close()]);
      await running;
    },
  };
}

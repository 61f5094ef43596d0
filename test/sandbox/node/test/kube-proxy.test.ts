import test from 'ava';
import { startTestCluster, waitFor, type TestCluster } from '../../controllers/test/cluster-fixture.js';
import { startKubeProxy, type KubeProxy } from '../kube-proxy.js';
import type { ServiceRule } from '../network.js';

const DELAY_MS = 1500;

let cluster: TestCluster;
let kubeProxy: KubeProxy;
const applied: { at: number; rules: ServiceRule[] }[] = [];

test.before(async () => {
  cluster = await startTestCluster();
  kubeProxy = await startKubeProxy({
    kubeconfig: cluster.kc,
    syncDelayMs: DELAY_MS,
    network: { syncServices: async (rules) => void applied.push({ at: Date.now(), rules }) },
  });
});
test.after.always(async () => {
  await kubeProxy?.close();
  await cluster?.close();
});

function endpointsOf(name: string, rules: ServiceRule[]): string[] {
  return rules.filter((r) => r.name === `default/${name}:http`).flatMap((r) => r.endpoints.map((e) => `${e.ip}:${e.port}`));
}

test.serial('every change of Services or Endpoints reaches the rules only after the sync delay', async (t) => {
  await cluster.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'lag' }, spec: { ports: [{ name: 'http', port: 80 }] } } });
  const steps: [string, string[]][] = [['198.18.7.1', ['198.18.7.1:8080']], ['198.18.7.2', ['198.18.7.2:8080']], ['', []]];
  for (const [ip, expected] of steps) {
    const before = applied.length;
    const written = Date.now();
    const subsets = ip ? [{ addresses: [{ ip }], ports: [{ name: 'http', port: 8080 }] }] : [];
    if (ip === '198.18.7.1') await cluster.core.createNamespacedEndpoints({ namespace: 'default', body: { metadata: { name: 'lag' }, subsets } });
    else await cluster.core.replaceNamespacedEndpoints({ namespace: 'default', name: 'lag', body: { metadata: { name: 'lag' }, subsets } });
    const seen = await waitFor(`the rules to say ${expected.join(',') || 'no endpoints'}`, async () => applied.slice(before).find((a) => endpointsOf('lag', a.rules).join() === expected.join()));
    t.true(seen.at - written >= DELAY_MS - 5, `${ip || 'removal'} applied ${seen.at - written} ms after the write`);
  }
  await kubeProxy.synced();
  t.deepEqual(endpointsOf('lag', applied.at(-1)!.rules), []);
});

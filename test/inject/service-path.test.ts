import test from 'ava';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { V1Service } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../sandbox/controllers/test/cluster-fixture.js';
import { PROPAGATION_ALLOWANCE_MS, waitForServicePath } from '../../src/inject/service-path.js';

let cluster: TestCluster;

test.before(async () => {
  cluster = await startTestCluster();
});
test.after.always(async () => {
  await cluster?.close();
});

/** A listener on loopback standing in for the Service's ClusterIP:port; counts connections. */
async function clusterIpStandIn(t: { teardown(fn: () => void): void }): Promise<{ port: number; connections: () => number; server: Server }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.resume();
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, connections: () => count, server };
}

async function endpoints(namespace: string, name: string, pods: { name: string; ip: string }[]): Promise<void> {
  const body = { metadata: { name }, subsets: [{ addresses: pods.map((p) => ({ ip: p.ip, targetRef: { kind: 'Pod', name: p.name, namespace } })), ports: [{ name: 'http', port: 8080 }] }] };
  try {
    await cluster.core.replaceNamespacedEndpoints({ namespace, name, body });
  } catch {
    await cluster.core.createNamespacedEndpoints({ namespace, body });
  }
}

function service(name: string, port: number): V1Service {
  return { metadata: { name, namespace: 'default' }, spec: { clusterIP: '127.0.0.1', ports: [{ name: 'http', port }] } };
}

test.serial('waits until every ready endpoint passes the check, lets the set stand for the allowance, then probes through the ClusterIP', async (t) => {
  const standIn = await clusterIpStandIn(t);
  await endpoints('default', 'paths', [{ name: 'old-1', ip: '198.18.9.1' }, { name: 'agent-1', ip: '198.18.9.2' }]);
  const progress: string[] = [];
  const started = Date.now();
  const waiting = waitForServicePath({
    core: cluster.core, namespace: 'default', service: service('paths', standIn.port), servicePort: { name: 'http', port: standIn.port },
    changed: true, progress: (m) => progress.push(m), timeoutMs: 20_000,
    check: async (addresses) => {
      const bad = addresses.filter((a) => !a.targetRef?.name?.startsWith('agent-'));
      return bad.length ? `${bad.length} endpoint(s) without an agent` : null;
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(standIn.connections(), 0, 'no probe while an endpoint fails the check');
  await endpoints('default', 'paths', [{ name: 'agent-1', ip: '198.18.9.2' }]);
  const settledAt = Date.now();
  await waiting;
  t.true(Date.now() - settledAt >= PROPAGATION_ALLOWANCE_MS, 'the new set stood for the allowance');
  t.true(standIn.connections() >= 8, `${standIn.connections()} probes went through the stand-in ClusterIP`);
  t.true(progress.some((m) => m.includes('1 endpoint(s) without an agent')), progress.join('\n'));
  t.true(progress.some((m) => /giving kube-proxy \d s/.test(m)), progress.join('\n'));
  t.true(Date.now() - started >= PROPAGATION_ALLOWANCE_MS);
});

test.serial('a set found right at once, with nothing changed, needs no allowance; probes that are refused keep it waiting and the error says why', async (t) => {
  const standIn = await clusterIpStandIn(t);
  await endpoints('default', 'stable', [{ name: 'agent-1', ip: '198.18.9.3' }]);
  const ok = { core: cluster.core, namespace: 'default', servicePort: { name: 'http', port: standIn.port }, changed: false, progress: () => undefined, timeoutMs: 10_000, check: async () => null };
  const before = standIn.connections();
  await waitForServicePath({ ...ok, service: service('stable', standIn.port) });
  t.true(standIn.connections() - before >= 8);

  await new Promise<void>((resolve) => standIn.server.close(() => resolve()));
  const error = await t.throwsAsync(waitForServicePath({ ...ok, service: service('stable', standIn.port), timeoutMs: 1_500 }));
  t.is((error as { code?: string }).code, 'TP_ERR_INTERCEPT_NOT_READY');
  t.regex(error!.message, /do not all get through yet \(ECONNREFUSED\): kube-proxy has not caught up/);
});

// restart(): what `npm run sandbox -- restart apiserver` does to the API server — every open watch
// ends, and the same API answers again on the same address with the same objects and a
// resourceVersion that keeps counting.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster } from './helpers.js';

test('restart ends open watches and comes back on the same address with the same objects', async (t) => {
  const cluster = await startTestCluster();
  t.teardown(() => cluster.close());
  const core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'kept' }, data: { a: '1' } } });
  const seen: string[] = [];
  const watchEnded = new Promise<unknown>((resolve) => {
    void new k8s.Watch(cluster.kubeConfig()).watch('/api/v1/namespaces/default/configmaps', {}, (type, object: k8s.V1ConfigMap) => seen.push(`${type} ${object.metadata?.name}`), resolve);
  });
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (seen.includes('ADDED kept')) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
    setTimeout(() => reject(new Error('the watch never listed kept')), 10_000).unref();
  });
  const url = cluster.server.url;

  await cluster.server.restart(100);
  await watchEnded;
  t.false(seen.some((event) => event.startsWith('DELETED')), seen.join(', '));
  t.is(cluster.server.url, url);
  const fresh = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  const kept = await fresh.readNamespacedConfigMap({ name: 'kept', namespace: 'default' });
  t.is(kept.metadata?.uid, created.metadata?.uid);
  t.deepEqual(kept.data, { a: '1' });
  const next = await fresh.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after' } } });
  t.true(Number(next.metadata!.resourceVersion) > Number(created.metadata!.resourceVersion));
});

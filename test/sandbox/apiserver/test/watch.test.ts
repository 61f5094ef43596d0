import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, statusOf, type TestCluster } from './helpers.js';

interface Seen { type: string; name: string; rv: string; code?: number }

/** Starts a client-node watch and collects events until `until` says stop. */
async function collect(cluster: TestCluster, path: string, params: Record<string, string | boolean>, until: (seen: Seen[]) => boolean, act?: () => Promise<void>): Promise<Seen[]> {
  const watch = new k8s.Watch(cluster.kubeConfig());
  const seen: Seen[] = [];
  let controller: AbortController | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`watch did not see enough events: ${JSON.stringify(seen)}`)), 10_000);
    void watch.watch(path, params, (type, object: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) => {
      seen.push({ type, name: object.metadata?.name ?? '', rv: object.metadata?.resourceVersion ?? '', code: object.code });
      if (until(seen)) {
        clearTimeout(timer);
        resolve();
      }
    }, (error: unknown) => {
      if (error && !until(seen)) reject(error as Error);
    }).then((c) => {
      controller = c;
    }, reject);
  });
  if (act) {
    await new Promise((r) => setTimeout(r, 100));
    await act();
  }
  await finished;
  controller?.abort();
  return seen;
}

let cluster: TestCluster;
let core: k8s.CoreV1Api;

test.before(async () => {
  cluster = await startTestCluster({ watchHistorySize: 50 });
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
});
test.after.always(async () => {
  await cluster?.close();
});

test('a watch without resourceVersion starts with ADDED for existing objects, then streams changes', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w1' } } });
  await core.createNamespacedConfigMap({ namespace: 'w1', body: { metadata: { name: 'before' } } });
  const seen = await collect(cluster, '/api/v1/namespaces/w1/configmaps', {}, (s) => s.some((e) => e.type === 'DELETED'), async () => {
    await core.createNamespacedConfigMap({ namespace: 'w1', body: { metadata: { name: 'after' } } });
    await core.patchNamespacedConfigMap({ name: 'after', namespace: 'w1', body: { data: { a: 'b' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ name: 'after', namespace: 'w1' });
  });
  t.deepEqual(seen.map((e) => `${e.type} ${e.name}`), ['ADDED before', 'ADDED kube-root-ca.crt', 'ADDED after', 'MODIFIED after', 'DELETED after']);
  const rvs = seen.slice(2).map((e) => Number(e.rv));
  t.true(rvs[0] < rvs[1] && rvs[1] < rvs[2], 'resourceVersions increase');
});

test('a watch resumes from a list resourceVersion and sees only later changes', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w2' } } });
  await core.createNamespacedConfigMap({ namespace: 'w2', body: { metadata: { name: 'old' } } });
  const list = await core.listNamespacedConfigMap({ namespace: 'w2' });
  await core.createNamespacedConfigMap({ namespace: 'w2', body: { metadata: { name: 'missed-by-list' } } });
  const seen = await collect(cluster, '/api/v1/namespaces/w2/configmaps', { resourceVersion: list.metadata?.resourceVersion ?? '' }, (s) => s.length >= 2, async () => {
    await core.createNamespacedConfigMap({ namespace: 'w2', body: { metadata: { name: 'new' } } });
  });
  t.deepEqual(seen.map((e) => `${e.type} ${e.name}`), ['ADDED missed-by-list', 'ADDED new']);
});

test('a watch from an expired resourceVersion gets an ERROR event with 410 Expired', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w3' } } });
  const start = await core.listNamespacedConfigMap({ namespace: 'w3' });
  for (let i = 0; i < 60; i += 1) await core.createNamespacedConfigMap({ namespace: 'w3', body: { metadata: { name: `c${i}` } } });
  const seen = await collect(cluster, '/api/v1/namespaces/w3/configmaps', { resourceVersion: start.metadata?.resourceVersion ?? '' }, (s) => s.length >= 1);
  t.is(seen[0].type, 'ERROR');
  t.is(seen[0].code, 410);
  const list = statusOf(await t.throwsAsync(core.listNamespacedConfigMap({ namespace: 'w3', resourceVersion: start.metadata?.resourceVersion, resourceVersionMatch: 'Exact' })));
  t.is(list.code, 410);
});

test('watches filter by label selector and turn label changes into ADDED/DELETED', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w4' } } });
  const seen = await collect(cluster, '/api/v1/namespaces/w4/configmaps', { labelSelector: 'pick=yes' }, (s) => s.length >= 3, async () => {
    await core.createNamespacedConfigMap({ namespace: 'w4', body: { metadata: { name: 'x', labels: { pick: 'no' } } } });
    await core.createNamespacedConfigMap({ namespace: 'w4', body: { metadata: { name: 'y', labels: { pick: 'yes' } } } });
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await core.patchNamespacedConfigMap({ name: 'x', namespace: 'w4', body: { metadata: { labels: { pick: 'yes' } } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'y', namespace: 'w4', body: { metadata: { labels: { pick: 'no' } } } }, merge);
  });
  t.deepEqual(seen.map((e) => `${e.type} ${e.name}`), ['ADDED y', 'ADDED x', 'DELETED y']);
});

test('bookmarks with sendInitialEvents mark the end of the initial events; timeoutSeconds ends the watch', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w5' } } });
  const watch = new k8s.Watch(cluster.kubeConfig());
  const types: string[] = [];
  await new Promise<void>((resolve, reject) => {
    void watch.watch('/api/v1/namespaces/w5/configmaps', { allowWatchBookmarks: true, sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', timeoutSeconds: 1 },
      (type) => types.push(type), (error: unknown) => (error ? reject(error as Error) : resolve()));
  });
  t.deepEqual(types, ['ADDED', 'BOOKMARK']);
});

test('an informer lists, watches and sees a created object', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'w6' } } });
  const informer = k8s.makeInformer(cluster.kubeConfig(), '/api/v1/namespaces/w6/pods', () => core.listNamespacedPod({ namespace: 'w6' }));
  const added = new Promise<string>((resolve) => informer.on('add', (pod: k8s.V1Pod) => {
    if (pod.metadata?.name === 'inf') resolve(pod.metadata.name);
  }));
  await informer.start();
  t.teardown(() => informer.stop());
  await core.createNamespacedPod({ namespace: 'w6', body: { metadata: { name: 'inf' }, spec: { containers: [{ name: 'm', image: 'busybox' }] } } });
  t.is(await added, 'inf');
});

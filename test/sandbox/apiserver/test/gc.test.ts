import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { deploymentManifest, startTestCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;

test.before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  apps = cluster.kubeConfig().makeApiClient(k8s.AppsV1Api);
});
test.after.always(async () => {
  await cluster?.close();
});

/** A Deployment owning a ReplicaSet owning two pods, as the controllers would build it. */
async function ownedChain(namespace: string, name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const dep = await apps.createNamespacedDeployment({ namespace, body: deploymentManifest(name, 2) });
  const ref = (o: { metadata?: k8s.V1ObjectMeta }, kind: string, apiVersion: string): k8s.V1OwnerReference =>
    ({ apiVersion, kind, name: o.metadata?.name ?? '', uid: o.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true });
  const rs = await apps.createNamespacedReplicaSet({ namespace, body: {
    metadata: { name: `${name}-rs`, ownerReferences: [ref(dep, 'Deployment', 'apps/v1')] },
    spec: { ...deploymentManifest(name).spec!, replicas: 2 },
  } });
  for (const i of [1, 2]) {
    await core.createNamespacedPod({ namespace, body: {
      metadata: { name: `${name}-pod-${i}`, labels: { app: name }, ownerReferences: [ref(rs, 'ReplicaSet', 'apps/v1')] },
      spec: { containers: [{ name: 'main', image: 'tp/echo-server:1' }] },
    } });
  }
}

test('deleting a Deployment deletes its ReplicaSets and their pods (background propagation)', async (t) => {
  await ownedChain('gc1', 'web');
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'gc1' });
  t.deepEqual((await apps.listNamespacedReplicaSet({ namespace: 'gc1' })).items, []);
  t.deepEqual((await core.listNamespacedPod({ namespace: 'gc1' })).items, []);
});

test('foreground propagation also deletes the whole chain', async (t) => {
  await ownedChain('gc2', 'web');
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'gc2', propagationPolicy: 'Foreground' });
  t.deepEqual((await apps.listNamespacedReplicaSet({ namespace: 'gc2' })).items, []);
  t.deepEqual((await core.listNamespacedPod({ namespace: 'gc2' })).items, []);
});

test('orphan propagation keeps dependents and strips the owner reference', async (t) => {
  await ownedChain('gc3', 'web');
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'gc3', propagationPolicy: 'Orphan' });
  const sets = (await apps.listNamespacedReplicaSet({ namespace: 'gc3' })).items;
  t.is(sets.length, 1);
  t.falsy(sets[0].metadata?.ownerReferences);
  t.is((await core.listNamespacedPod({ namespace: 'gc3' })).items.length, 2);
});

test('a dependent with another living owner survives and loses only the deleted owner', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'gc4' } } });
  const a = await core.createNamespacedConfigMap({ namespace: 'gc4', body: { metadata: { name: 'owner-a' } } });
  const b = await core.createNamespacedConfigMap({ namespace: 'gc4', body: { metadata: { name: 'owner-b' } } });
  const refs = [a, b].map((o) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata?.name ?? '', uid: o.metadata?.uid ?? '' }));
  await core.createNamespacedSecret({ namespace: 'gc4', body: { metadata: { name: 'shared', ownerReferences: refs } } });
  await core.deleteNamespacedConfigMap({ name: 'owner-a', namespace: 'gc4' });
  const shared = await core.readNamespacedSecret({ name: 'shared', namespace: 'gc4' });
  t.deepEqual(shared.metadata?.ownerReferences?.map((r) => r.name), ['owner-b']);
  await core.deleteNamespacedConfigMap({ name: 'owner-b', namespace: 'gc4' });
  t.deepEqual((await core.listNamespacedSecret({ namespace: 'gc4' })).items, []);
});

test('finalizers hold a delete until they are removed; deletecollection honours selectors', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'gc5' } } });
  await core.createNamespacedConfigMap({ namespace: 'gc5', body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
  await core.deleteNamespacedConfigMap({ name: 'held', namespace: 'gc5' });
  const held = await core.readNamespacedConfigMap({ name: 'held', namespace: 'gc5' });
  t.truthy(held.metadata?.deletionTimestamp);
  await core.patchNamespacedConfigMap({ name: 'held', namespace: 'gc5', body: { metadata: { finalizers: null } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  t.deepEqual((await core.listNamespacedConfigMap({ namespace: 'gc5', fieldSelector: 'metadata.name=held' })).items, []);
  for (const [name, tier] of [['x', 'a'], ['y', 'a'], ['z', 'b']]) await core.createNamespacedSecret({ namespace: 'gc5', body: { metadata: { name, labels: { tier } } } });
  await core.deleteCollectionNamespacedSecret({ namespace: 'gc5', labelSelector: 'tier=a' });
  t.deepEqual((await core.listNamespacedSecret({ namespace: 'gc5' })).items.map((s) => s.metadata?.name), ['z']);
});

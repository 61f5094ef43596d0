import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { strategicMergePatch } from '../patch/strategic-merge.js';
import { jsonMergePatch } from '../patch/apply-patch.js';
import { startTestCluster, statusOf, type TestCluster } from './helpers.js';

test('JSON merge patch follows RFC 7386: objects merge, null deletes, arrays replace', (t) => {
  t.deepEqual(jsonMergePatch({ a: 'b', c: { d: 'e', f: 'g' }, l: [1, 2] }, { a: 'z', c: { f: null }, l: [3] }), { a: 'z', c: { d: 'e' }, l: [3] });
  t.deepEqual(jsonMergePatch({ a: 1 }, ['x']), ['x']);
});

test('strategic merge merges containers by name, env by name and container ports by containerPort', (t) => {
  const original = {
    spec: {
      containers: [
        { name: 'app', image: 'a:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }] },
        { name: 'side', image: 's:1' },
      ],
    },
  };
  const patch = { spec: { containers: [{ name: 'app', image: 'a:2', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }], ports: [{ containerPort: 443 }] }] } };
  t.deepEqual(strategicMergePatch(original, patch), {
    spec: {
      containers: [
        { name: 'app', image: 'a:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }], ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443 }] },
        { name: 'side', image: 's:1' },
      ],
    },
  });
});

test('strategic merge honours $patch delete/replace, $retainKeys, $setElementOrder and $deleteFromPrimitiveList', (t) => {
  const original = {
    metadata: { finalizers: ['a', 'b'] },
    spec: {
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
      ports: [{ port: 80, name: 'http' }, { port: 443, name: 'https' }],
      containers: [{ name: 'x', image: 'x' }, { name: 'y', image: 'y' }],
      selector: { app: 'a', tier: 'b' },
      args: ['--one'],
    },
  };
  const patch = {
    metadata: { '$deleteFromPrimitiveList/finalizers': ['a'], finalizers: ['c'] },
    spec: {
      strategy: { $retainKeys: ['type'], type: 'Recreate' },
      ports: [{ port: 443, $patch: 'delete' }, { port: 8080, name: 'alt' }],
      '$setElementOrder/containers': [{ name: 'y' }, { name: 'x' }],
      containers: [{ name: 'x', image: 'x2' }],
      selector: { $patch: 'replace', app: 'z' },
      args: ['--two'],
    },
  };
  t.deepEqual(strategicMergePatch(original, patch), {
    metadata: { finalizers: ['b', 'c'] },
    spec: {
      strategy: { type: 'Recreate' },
      ports: [{ port: 80, name: 'http' }, { port: 8080, name: 'alt' }],
      containers: [{ name: 'y', image: 'y' }, { name: 'x', image: 'x2' }],
      selector: { app: 'z' },
      args: ['--two'],
    },
  });
});

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

const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

test('a strategic merge patch through the API adds a sidecar and an env var without dropping anything', async (t) => {
  await apps.createNamespacedDeployment({ namespace: 'default', body: {
    metadata: { name: 'smp' },
    spec: { selector: { matchLabels: { app: 'smp' } }, template: { metadata: { labels: { app: 'smp' } }, spec: { containers: [{ name: 'app', image: 'a:1', env: [{ name: 'A', value: '1' }] }] } } },
  } });
  const patched = await apps.patchNamespacedDeployment({ name: 'smp', namespace: 'default', body: {
    spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'B', value: '2' }] }, { name: 'agent', image: 'tp/tp:1', ports: [{ containerPort: 9900 }] }] } } },
  } }, strategic);
  const containers = patched.spec?.template.spec?.containers ?? [];
  t.deepEqual(containers.map((c) => c.name), ['app', 'agent']);
  t.deepEqual(containers[0].env?.map((e) => e.name), ['A', 'B']);
  t.is(containers[0].image, 'a:1');
  t.is(containers[1].imagePullPolicy, 'IfNotPresent', 'defaults apply to patched-in containers');
  t.is(patched.metadata?.generation, 2);
});

test('a service port is changed by strategic merge keyed by port, and by JSON patch by index', async (t) => {
  await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'psvc' }, spec: { selector: { app: 'x' }, ports: [{ name: 'http', port: 80, targetPort: 8080 as unknown as k8s.IntOrString }, { name: 'https', port: 443 }] } } });
  const viaSmp = await core.patchNamespacedService({ name: 'psvc', namespace: 'default', body: { spec: { ports: [{ port: 80, targetPort: 9900 }] } } }, strategic);
  t.deepEqual(viaSmp.spec?.ports?.map((p) => `${p.name}:${p.port}->${String(p.targetPort)}`), ['http:80->9900', 'https:443->443']);
  const viaJson = await core.patchNamespacedService({ name: 'psvc', namespace: 'default', body: [{ op: 'replace', path: '/spec/ports/1/targetPort', value: 8443 }] }, jsonPatch);
  t.is(viaJson.spec?.ports?.[1].targetPort, 8443 as unknown as k8s.IntOrString);
  t.is(viaJson.spec?.clusterIP, viaSmp.spec?.clusterIP, 'the cluster IP is kept');
  const failed = statusOf(await t.throwsAsync(core.patchNamespacedService({ name: 'psvc', namespace: 'default', body: [{ op: 'test', path: '/spec/type', value: 'NodePort' }] }, jsonPatch)));
  t.is(failed.code, 422);
});

test('a merge patch replaces lists and a patch carrying a stale resourceVersion conflicts', async (t) => {
  const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'mp', labels: { a: '1' } }, data: { k: 'v' } } });
  const patched = await core.patchNamespacedConfigMap({ name: 'mp', namespace: 'default', body: { metadata: { labels: { a: null, b: '2' } }, data: { k2: 'v2' } } }, merge);
  t.deepEqual(patched.metadata?.labels, { b: '2' });
  t.deepEqual(patched.data, { k: 'v', k2: 'v2' });
  const stale = statusOf(await t.throwsAsync(core.patchNamespacedConfigMap({ name: 'mp', namespace: 'default', body: { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { k: 'x' } } }, merge)));
  t.is(stale.code, 409);
});

test('the status subresource takes patches of status only, and the scale subresource sets replicas', async (t) => {
  await apps.createNamespacedDeployment({ namespace: 'default', body: {
    metadata: { name: 'st' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'st' } }, template: { metadata: { labels: { app: 'st' } }, spec: { containers: [{ name: 'app', image: 'a:1' }] } } },
  } });
  const withStatus = await apps.patchNamespacedDeploymentStatus({ name: 'st', namespace: 'default', body: { spec: { replicas: 9 }, status: { replicas: 2, readyReplicas: 2, conditions: [{ type: 'Available', status: 'True' }] } } }, merge);
  t.is(withStatus.status?.readyReplicas, 2);
  t.is(withStatus.spec?.replicas, 2);
  const scale = await apps.readNamespacedDeploymentScale({ name: 'st', namespace: 'default' });
  t.is(scale.spec?.replicas, 2);
  t.is(scale.status?.selector, 'app=st');
  const scaled = await apps.patchNamespacedDeploymentScale({ name: 'st', namespace: 'default', body: { spec: { replicas: 5 } } }, merge);
  t.is(scaled.spec?.replicas, 5);
  t.is((await apps.readNamespacedDeployment({ name: 'st', namespace: 'default' })).spec?.replicas, 5);
  const replaced = await apps.replaceNamespacedDeploymentScale({ name: 'st', namespace: 'default', body: { metadata: { name: 'st' }, spec: { replicas: 1 } } });
  t.is(replaced.spec?.replicas, 1);
});

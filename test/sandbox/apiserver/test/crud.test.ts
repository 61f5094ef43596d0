import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { podManifest, startTestCluster, statusOf, deploymentManifest, type TestCluster } from './helpers.js';

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

test('a created pod gets uid, timestamps, resourceVersion and upstream defaults', async (t) => {
  const pod = await core.createNamespacedPod({ namespace: 'default', body: podManifest('defaults') });
  t.regex(pod.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  t.truthy(pod.metadata?.creationTimestamp);
  t.regex(pod.metadata?.resourceVersion ?? '', /^\d+$/);
  t.is(pod.spec?.restartPolicy, 'Always');
  t.is(pod.spec?.dnsPolicy, 'ClusterFirst');
  t.is(pod.spec?.serviceAccountName, 'default');
  t.is(pod.spec?.terminationGracePeriodSeconds, 30);
  t.is(pod.spec?.schedulerName, 'default-scheduler');
  t.is(pod.spec?.containers[0].imagePullPolicy, 'IfNotPresent');
  t.is(pod.spec?.containers[0].terminationMessagePath, '/dev/termination-log');
  t.is(pod.spec?.containers[0].ports?.[0].protocol, 'TCP');
  t.is(pod.status?.phase, 'Pending');
  const read = await core.readNamespacedPod({ name: 'defaults', namespace: 'default' });
  t.is(read.metadata?.uid, pod.metadata?.uid);
});

test('generateName gets a random suffix and dryRun=All stores nothing', async (t) => {
  const generated = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' }, data: { a: '1' } } });
  t.regex(generated.metadata?.name ?? '', /^gen-[a-z0-9]{5}$/);
  const dry = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
  t.is(dry.metadata?.name, 'dry');
  const error = await t.throwsAsync(core.readNamespacedConfigMap({ name: 'dry', namespace: 'default' }));
  t.is(statusOf(error).code, 404);
});

test('a service gets a cluster IP from 198.19.0.0/16 and port defaults; the IP is freed on delete', async (t) => {
  const svc = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } } });
  t.regex(svc.spec?.clusterIP ?? '', /^198\.19\.\d+\.\d+$/);
  t.not(svc.spec?.clusterIP, '198.19.0.1');
  t.not(svc.spec?.clusterIP, '198.19.0.10');
  t.is(svc.spec?.type, 'ClusterIP');
  t.is(svc.spec?.sessionAffinity, 'None');
  t.is(svc.spec?.ports?.[0].protocol, 'TCP');
  t.is(svc.spec?.ports?.[0].targetPort, 80 as unknown as k8s.IntOrString);
  const taken = await t.throwsAsync(core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web2' }, spec: { clusterIP: svc.spec?.clusterIP, ports: [{ port: 80 }] } } }));
  t.is(statusOf(taken).code, 422);
  await core.deleteNamespacedService({ name: 'web', namespace: 'default' });
  const again = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web3' }, spec: { clusterIP: svc.spec?.clusterIP, ports: [{ port: 80 }] } } });
  t.is(again.spec?.clusterIP, svc.spec?.clusterIP);
});

test('built-in services, endpoints and namespaces exist at start', async (t) => {
  const kubernetes = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
  t.is(kubernetes.spec?.clusterIP, '198.19.0.1');
  const dns = await core.readNamespacedService({ name: 'kube-dns', namespace: 'kube-system' });
  t.is(dns.spec?.clusterIP, '198.19.0.10');
  t.deepEqual(dns.spec?.ports?.map((p) => `${p.name}:${p.port}/${p.protocol}`), ['dns:53/UDP', 'dns-tcp:53/TCP']);
  const ep = await core.readNamespacedEndpoints({ name: 'kubernetes', namespace: 'default' });
  t.deepEqual(ep.subsets?.[0].addresses?.map((a) => a.ip), ['198.18.0.1']);
  t.is(ep.subsets?.[0].ports?.[0].port, 6443);
  const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
  for (const builtIn of ['default', 'kube-node-lease', 'kube-public', 'kube-system']) t.true(names.includes(builtIn));
});

test('deployments get replicas, strategy, revisionHistoryLimit and progressDeadline defaults and generation 1', async (t) => {
  const body = deploymentManifest('defaults-dep');
  delete body.spec?.replicas;
  const dep = await apps.createNamespacedDeployment({ namespace: 'default', body });
  t.is(dep.spec?.replicas, 1);
  t.is(dep.spec?.strategy?.type, 'RollingUpdate');
  t.is(dep.spec?.strategy?.rollingUpdate?.maxSurge, '25%' as unknown as k8s.IntOrString);
  t.is(dep.spec?.revisionHistoryLimit, 10);
  t.is(dep.spec?.progressDeadlineSeconds, 600);
  t.is(dep.metadata?.generation, 1);
  t.is(dep.spec?.template.spec?.restartPolicy, 'Always');
});

test('generation increments on spec changes only; status writes go through the status subresource', async (t) => {
  const dep = await apps.createNamespacedDeployment({ namespace: 'default', body: deploymentManifest('gen-dep') });
  const labelled = await apps.patchNamespacedDeployment({ name: 'gen-dep', namespace: 'default', body: { metadata: { labels: { x: 'y' } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  t.is(labelled.metadata?.generation, 1);
  const scaled = await apps.patchNamespacedDeployment({ name: 'gen-dep', namespace: 'default', body: { spec: { replicas: 3 }, status: { replicas: 99 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  t.is(scaled.metadata?.generation, 2);
  t.is(scaled.status?.replicas, undefined, 'main-resource writes ignore status');
  const withStatus = await apps.replaceNamespacedDeploymentStatus({ name: 'gen-dep', namespace: 'default', body: { ...scaled, spec: { ...scaled.spec!, replicas: 7 }, status: { replicas: 3, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 3, observedGeneration: 2 } } });
  t.is(withStatus.status?.readyReplicas, 2);
  t.is(withStatus.spec?.replicas, 3, 'status writes ignore spec');
  t.is(withStatus.metadata?.generation, 2);
  t.not(withStatus.metadata?.resourceVersion, dep.metadata?.resourceVersion);
});

test('a PUT with a stale resourceVersion is a 409 Conflict; without one it is unconditional', async (t) => {
  const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'occ' }, data: { v: '1' } } });
  await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: { ...cm, data: { v: '2' } } });
  const error = await t.throwsAsync(core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: { ...cm, data: { v: '3' } } }));
  const status = statusOf(error);
  t.is(status.code, 409);
  t.is(status.reason, 'Conflict');
  t.is(status.message, 'Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again');
  const forced = await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: { metadata: { name: 'occ' }, data: { v: '4' } } });
  t.is(forced.data?.v, '4');
});

test('errors carry upstream Status shapes: 404, 409 AlreadyExists, 422 with causes, 400, 401', async (t) => {
  const missing = statusOf(await t.throwsAsync(core.readNamespacedPod({ name: 'nope', namespace: 'default' })));
  t.like(missing, { code: 404, reason: 'NotFound', message: 'pods "nope" not found', details: { name: 'nope', kind: 'pods' } });
  const missingDep = statusOf(await t.throwsAsync(apps.readNamespacedDeployment({ name: 'nope', namespace: 'default' })));
  t.is(missingDep.message, 'deployments.apps "nope" not found');
  await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'dup' } } });
  const dup = statusOf(await t.throwsAsync(core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'dup' } } })));
  t.like(dup, { code: 409, reason: 'AlreadyExists', message: 'secrets "dup" already exists' });
  const bad = statusOf(await t.throwsAsync(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'Bad_Name' }, spec: { containers: [] } } })));
  t.is(bad.code, 422);
  t.is(bad.reason, 'Invalid');
  t.deepEqual(bad.details?.causes?.map((c) => c.field), ['metadata.name', 'spec.containers']);
  t.regex(bad.message ?? '', /^Pod "Bad_Name" is invalid: \[metadata.name: Invalid value: "Bad_Name"/);
  // A port name twice in one container is refused; the same name in two containers is not.
  const ports = [{ name: 'http', containerPort: 8080 }];
  const twice = statusOf(await t.throwsAsync(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'twice' }, spec: { containers: [{ name: 'a', image: 'busybox', ports: [...ports, { name: 'http', containerPort: 8081 }] }] } } })));
  t.like(twice, { code: 422, reason: 'Invalid' });
  t.deepEqual(twice.details?.causes?.map((c) => [c.reason, c.field]), [['FieldValueDuplicate', 'spec.containers[0].ports[1].name']]);
  await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'shared-name' }, spec: { containers: [{ name: 'a', image: 'busybox', ports }, { name: 'b', image: 'busybox', ports: [{ name: 'http', containerPort: 9090 }] }] } } });
  const noNs = statusOf(await t.throwsAsync(core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'x' } } })));
  t.like(noNs, { code: 404, message: 'namespaces "ghost" not found' });
  const unauth = cluster.kubeConfig('not-a-token').makeApiClient(k8s.CoreV1Api);
  const denied = statusOf(await t.throwsAsync(unauth.listNamespace()));
  t.is(denied.code, 401, 'client-node drops 401 bodies; the raw-request test checks the Status');
});

test('raw requests: missing token is 403 for system:anonymous, bad JSON is 400, unknown patch type is 415, wrong method is 405', async (t) => {
  const ca = cluster.caCert;
  const request = async (method: string, path: string, init: { body?: string; type?: string; token?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
    const { request: httpsRequest } = await import('node:https');
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'Content-Type': init.type ?? 'application/json' };
      if (init.token !== null) headers.Authorization = `Bearer ${init.token ?? cluster.adminToken}`;
      const req = httpsRequest(`${cluster.server.url}${path}`, { method, ca, headers }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
  };
  t.like(await request('GET', '/api/v1/pods', { token: null }), { status: 403, body: { kind: 'Status', reason: 'Forbidden' } });
  t.like(await request('POST', '/api/v1/namespaces/default/configmaps', { body: '{not json' }), { status: 400, body: { reason: 'BadRequest' } });
  await request('POST', '/api/v1/namespaces/default/configmaps', { body: JSON.stringify({ metadata: { name: 'raw' } }) });
  t.like(await request('PATCH', '/api/v1/namespaces/default/configmaps/raw', { body: '{}', type: 'text/plain' }), { status: 415, body: { reason: 'UnsupportedMediaType' } });
  t.like(await request('PATCH', '/api/v1/namespaces/default/configmaps/raw', { body: 'a: b', type: 'application/apply-patch+yaml' }), { status: 415 });
  t.like(await request('POST', '/api/v1/namespaces/default/configmaps/raw', { body: '{}' }), { status: 405, body: { reason: 'MethodNotAllowed' } });
  t.like(await request('GET', '/api/v1/namespaces/default/widgets'), { status: 404 });
  t.like(await request('GET', '/version'), { status: 200, body: { gitVersion: 'v1.32.0' } });
});

test('a new namespace gets its default ServiceAccount and kube-root-ca.crt; deleting it deletes its contents', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'team-a' } } });
  const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'team-a' });
  t.is(sa.metadata?.namespace, 'team-a');
  const root = await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'team-a' });
  t.is(root.data?.['ca.crt'], cluster.caCert);
  await core.createNamespacedPod({ namespace: 'team-a', body: podManifest('inside') });
  await core.deleteNamespace({ name: 'team-a' });
  t.is(statusOf(await t.throwsAsync(core.readNamespace({ name: 'team-a' }))).code, 404);
  t.is((await core.listPodForAllNamespaces()).items.filter((p) => p.metadata?.namespace === 'team-a').length, 0);
});

test('list filters by label and field selectors and pages with limit/continue', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'sel' } } });
  for (const [name, tier] of [['a', 'web'], ['b', 'web'], ['c', 'db'], ['d', 'cache']]) {
    await core.createNamespacedPod({ namespace: 'sel', body: { metadata: { name, labels: { tier } }, spec: { containers: [{ name: 'm', image: 'busybox' }], nodeName: name === 'a' ? 'n1' : undefined } } });
  }
  const names = async (params: Record<string, string>): Promise<string[]> =>
    (await core.listNamespacedPod({ namespace: 'sel', ...params })).items.map((p) => p.metadata?.name ?? '');
  t.deepEqual(await names({ labelSelector: 'tier=web' }), ['a', 'b']);
  t.deepEqual(await names({ labelSelector: 'tier!=web' }), ['c', 'd']);
  t.deepEqual(await names({ labelSelector: 'tier in (db,cache)' }), ['c', 'd']);
  t.deepEqual(await names({ labelSelector: 'tier notin (db,cache)' }), ['a', 'b']);
  t.deepEqual(await names({ labelSelector: 'tier' }), ['a', 'b', 'c', 'd']);
  t.deepEqual(await names({ labelSelector: '!tier' }), []);
  t.deepEqual(await names({ fieldSelector: 'spec.nodeName=n1' }), ['a']);
  t.deepEqual(await names({ fieldSelector: 'metadata.name!=a,status.phase=Pending' }), ['b', 'c', 'd']);
  const bad = statusOf(await t.throwsAsync(core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.bogus=1' })));
  t.like(bad, { code: 400, message: 'field label not supported: spec.bogus' });
  const first = await core.listNamespacedPod({ namespace: 'sel', limit: 3 });
  t.is(first.items.length, 3);
  t.is(first.metadata?.remainingItemCount, 1);
  const rest = await core.listNamespacedPod({ namespace: 'sel', limit: 3, _continue: first.metadata?._continue });
  t.deepEqual(rest.items.map((p) => p.metadata?.name), ['d']);
  t.falsy(rest.metadata?._continue);
  const all = await core.listPodForAllNamespaces({ labelSelector: 'tier=db' });
  t.deepEqual(all.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`), ['sel/c']);
});

test('a secret\'s stringData is folded into data on create and on patch, and never stored', async (t) => {
  const created = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'string-data' }, data: { kept: Buffer.from('old').toString('base64') }, stringData: { password: 's3cret' } } });
  t.is(Buffer.from(created.data!.password, 'base64').toString(), 's3cret');
  t.is(Buffer.from(created.data!.kept, 'base64').toString(), 'old');
  t.is((created as { stringData?: unknown }).stringData, undefined);
  const patched = await core.patchNamespacedSecret(
    { name: 'string-data', namespace: 'default', body: { stringData: { kept: 'new' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  t.is(Buffer.from(patched.data!.kept, 'base64').toString(), 'new');
  t.is((await core.readNamespacedSecret({ name: 'string-data', namespace: 'default' })).stringData, undefined);
});

test('deleting a pod a node runs is graceful: marked with its grace period, shortened by a later delete, removed by grace 0', async (t) => {
  const unscheduled = await core.createNamespacedPod({ namespace: 'default', body: podManifest('unscheduled') });
  await core.deleteNamespacedPod({ name: unscheduled.metadata!.name!, namespace: 'default' });
  await t.throwsAsync(core.readNamespacedPod({ name: 'unscheduled', namespace: 'default' }), undefined, 'a pod no node runs goes at once');

  await core.createNamespacedPod({ namespace: 'default', body: { ...podManifest('graceful'), spec: { ...podManifest('graceful').spec!, nodeName: 'sandbox-node', terminationGracePeriodSeconds: 45 } } });
  const before = Date.now();
  await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default' });
  const marked = await core.readNamespacedPod({ name: 'graceful', namespace: 'default' });
  t.is(marked.metadata?.deletionGracePeriodSeconds, 45);
  const due = new Date(marked.metadata!.deletionTimestamp!).getTime();
  t.true(due >= before + 44_000, 'deletionTimestamp is when the grace period ends');

  await core.patchNamespacedPodStatus({ name: 'graceful', namespace: 'default', body: { status: { phase: 'Running' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  t.truthy(await core.readNamespacedPod({ name: 'graceful', namespace: 'default' }), 'a status write does not remove a terminating pod');

  await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default', gracePeriodSeconds: 120 });
  t.is((await core.readNamespacedPod({ name: 'graceful', namespace: 'default' })).metadata?.deletionGracePeriodSeconds, 45, 'a longer grace does not extend it');
  await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default', gracePeriodSeconds: 5 });
  t.is((await core.readNamespacedPod({ name: 'graceful', namespace: 'default' })).metadata?.deletionGracePeriodSeconds, 5, 'a shorter one does');
  await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default', gracePeriodSeconds: 0 });
  const error = await t.throwsAsync(core.readNamespacedPod({ name: 'graceful', namespace: 'default' }));
  t.is((error as { code?: number }).code, 404);
});

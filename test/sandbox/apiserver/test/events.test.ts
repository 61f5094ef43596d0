// Events are one resource in two API groups, as upstream: what a controller writes as a core/v1
// Event (kubectl describe's view) is readable as events.k8s.io/v1 (kubectl events' view) with
// upstream's field names, and the other way round; updates and deletes follow.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
let events: k8s.EventsV1Api;
const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

test.before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  events = cluster.kubeConfig().makeApiClient(k8s.EventsV1Api);
});
test.after.always(async () => {
  await cluster?.close();
});

test('a core/v1 Event is served as events.k8s.io/v1 with upstream field names, and follows updates and deletes', async (t) => {
  const when = new Date('2026-01-02T03:04:05Z');
  const created = await core.createNamespacedEvent({ namespace: 'default', body: {
    metadata: { name: 'web-1.abc' },
    involvedObject: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', namespace: 'default', uid: 'u1' },
    type: 'Warning', reason: 'FailedCreate', message: 'Error creating: no', source: { component: 'replicaset-controller' },
    reportingComponent: 'replicaset-controller', reportingInstance: '', firstTimestamp: when, lastTimestamp: when, count: 1,
  } });
  const v1 = await events.readNamespacedEvent({ namespace: 'default', name: 'web-1.abc' });
  t.like(v1, {
    apiVersion: 'events.k8s.io/v1', kind: 'Event', type: 'Warning', reason: 'FailedCreate', note: 'Error creating: no',
    regarding: { kind: 'ReplicaSet', name: 'web-1', uid: 'u1' }, deprecatedSource: { component: 'replicaset-controller' },
    deprecatedCount: 1, reportingController: 'replicaset-controller',
  });
  t.is(v1.metadata?.uid, created.metadata?.uid);
  t.deepEqual(v1.deprecatedFirstTimestamp, when);

  await core.patchNamespacedEvent({ namespace: 'default', name: 'web-1.abc', body: { count: 3 } }, MERGE_PATCH);
  t.is((await events.readNamespacedEvent({ namespace: 'default', name: 'web-1.abc' })).deprecatedCount, 3);
  await core.deleteNamespacedEvent({ namespace: 'default', name: 'web-1.abc' });
  t.false((await events.listNamespacedEvent({ namespace: 'default' })).items.some((e) => e.metadata?.name === 'web-1.abc'));
  t.is((await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'metadata.name=web-1.abc' })).items.length, 0);
});

test('an events.k8s.io/v1 Event is listed as core/v1 with involvedObject and message', async (t) => {
  await events.createNamespacedEvent({ namespace: 'default', body: {
    metadata: { name: 'pod-x.1' }, eventTime: new k8s.V1MicroTime('2026-01-02T03:04:05.000000Z'), reportingController: 'tp.dev/injector', reportingInstance: 'tp',
    action: 'Inject', reason: 'AgentInjected', type: 'Normal', note: 'injected', regarding: { kind: 'Deployment', name: 'web', namespace: 'default' },
  } });
  const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=web' });
  t.deepEqual(list.items.map((e) => [e.apiVersion ?? 'v1', e.message, e.reportingComponent, e.involvedObject.kind]), [['v1', 'injected', 'tp.dev/injector', 'Deployment']]);
});

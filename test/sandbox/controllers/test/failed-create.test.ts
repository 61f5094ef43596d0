// Pod creates the API refuses (here: Pod Security "restricted") are reported as the real
// controllers report them: a FailedCreate Warning event on the ReplicaSet or StatefulSet with the
// API's message, and on the ReplicaSet the ReplicaFailure condition, cleared once pods can be made.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CoreV1Event, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { MERGE_PATCH, podsOf, startTestCluster, waitFor, type TestCluster } from './cluster-fixture.js';

let cluster: TestCluster;
const NS = 'strict';
const TEMPLATE = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'web', image: 'tp/echo-server:latest' }] },
});
const RESTRICTED_MESSAGE = 'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false), ' +
  'unrestricted capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true), ' +
  'seccompProfile (pod or container "web" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")';

test.before(async () => {
  cluster = await startTestCluster();
  await cluster.core.createNamespace({ body: { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
});
test.after.always(async () => {
  await cluster?.close();
});

async function eventsAbout(kind: string, name: string): Promise<CoreV1Event[]> {
  const list = await cluster.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
  return list.items;
}

test.serial('a Deployment whose pods violate the namespace level: its ReplicaSet gets FailedCreate events and ReplicaFailure, until the pods are allowed', async (t) => {
  const deployment: V1Deployment = { metadata: { name: 'web' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: TEMPLATE('web') } };
  await cluster.apps.createNamespacedDeployment({ namespace: NS, body: deployment });
  const rs = await waitFor('the ReplicaSet', async () => (await cluster.apps.listNamespacedReplicaSet({ namespace: NS })).items[0]);
  const rsName = rs.metadata!.name!;
  const [event] = await waitFor('a FailedCreate event', async () => {
    const events = await eventsAbout('ReplicaSet', rsName);
    return events.length > 0 && events;
  });
  t.like(event, {
    type: 'Warning', reason: 'FailedCreate',
    message: `Error creating: pods "${rsName}-" is forbidden: ${RESTRICTED_MESSAGE}`,
    involvedObject: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, namespace: NS, uid: rs.metadata!.uid },
    source: { component: 'replicaset-controller' },
  });
  const condition = await waitFor('the ReplicaFailure condition', async () =>
    (await cluster.apps.readNamespacedReplicaSet({ namespace: NS, name: rsName })).status?.conditions?.find((c) => c.type === 'ReplicaFailure'));
  t.like(condition, { status: 'True', reason: 'FailedCreate', message: `pods "${rsName}-" is forbidden: ${RESTRICTED_MESSAGE}` });
  const repeated = await waitFor('the retry folded into the same event', async () => {
    const events = await eventsAbout('ReplicaSet', rsName);
    return events.length === 1 && (events[0].count ?? 0) > 1 && events[0];
  });
  t.is(repeated.metadata?.name, event.metadata?.name);
  const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', cluster.kubeconfigPath, '-n', NS, 'get', 'events']);
  t.regex(stdout, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
  t.true(stdout.includes(`Warning   FailedCreate   replicaset/${rsName}   Error creating: pods "${rsName}-" is forbidden`), stdout);
  t.deepEqual(await podsOf(cluster.core, NS, 'app=web'), []);

  await cluster.core.patchNamespace({ name: NS, body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } }, MERGE_PATCH);
  await waitFor('two pods', async () => (await podsOf(cluster.core, NS, 'app=web')).length === 2);
  await waitFor('the condition cleared', async () =>
    !(await cluster.apps.readNamespacedReplicaSet({ namespace: NS, name: rsName })).status?.conditions?.some((c) => c.type === 'ReplicaFailure'));
  await cluster.core.patchNamespace({ name: NS, body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } }, MERGE_PATCH);
  t.is((await podsOf(cluster.core, NS, 'app=web')).length, 2);
});

test.serial('a StatefulSet whose pod is refused gets the StatefulSet controller\'s FailedCreate event', async (t) => {
  const sts: V1StatefulSet = { metadata: { name: 'db' }, spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: TEMPLATE('db') } };
  await cluster.apps.createNamespacedStatefulSet({ namespace: NS, body: sts });
  const [event] = await waitFor('a FailedCreate event', async () => {
    const events = await eventsAbout('StatefulSet', 'db');
    return events.length > 0 && events;
  });
  t.like(event, {
    type: 'Warning', reason: 'FailedCreate', source: { component: 'statefulset-controller' },
    message: `create Pod db-0 in StatefulSet db failed error: pods "db-0" is forbidden: ${RESTRICTED_MESSAGE}`,
  });
});

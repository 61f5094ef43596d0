import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { isReady, MERGE_PATCH, podsOf, setPodReady, startTestCluster, waitFor, type TestCluster } from './cluster-fixture.js';

const execFileAsync = promisify(execFile);
let cluster: TestCluster;

test.before(async () => {
  cluster = await startTestCluster();
});
test.after.always(async () => {
  await cluster?.close();
});

async function namespace(name: string): Promise<string> {
  await cluster.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

function deployment(name: string, replicas: number, extra: Partial<V1Deployment['spec']> = {}): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'tp/echo-server:latest', ports: [{ name: 'http', containerPort: 8080 }] }] },
      },
      ...extra,
    },
  };
}

/** Marks every pod of the selector that is not yet Ready as Ready. */
async function readyAll(ns: string, selector: string): Promise<V1Pod[]> {
  const pods = await podsOf(cluster.core, ns, selector);
  for (const pod of pods) if (!isReady(pod)) await setPodReady(cluster.core, pod, true);
  return pods;
}

test('a Deployment creates a ReplicaSet named by its template hash and the pods it asks for', async (t) => {
  const ns = await namespace('create');
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
  const pods = await waitFor('2 pods', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && found;
  });
  const rsList = (await cluster.apps.listNamespacedReplicaSet({ namespace: ns })).items;
  t.is(rsList.length, 1);
  const rs = rsList[0]!;
  const hash = rs.metadata?.labels?.['pod-template-hash'];
  t.truthy(hash);
  t.is(rs.metadata?.name, `web-${hash}`);
  t.is(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'], '1');
  t.is(rs.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
  for (const pod of pods) {
    t.true(pod.metadata?.name?.startsWith(`web-${hash}-`));
    t.is(pod.metadata?.labels?.['pod-template-hash'], hash);
    t.like(pod.metadata?.ownerReferences?.[0], { kind: 'ReplicaSet', name: rs.metadata?.name, controller: true, blockOwnerDeletion: true });
  }

  await readyAll(ns, 'app=web');
  // kubectl reads exactly the status fields the controller writes.
  const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', cluster.kubeconfigPath, '-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=20s']);
  t.regex(stdout, /successfully rolled out/);
  const d = await cluster.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
  t.like(d.status, { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 });
  t.is(d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');
  t.is(d.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
});

test('a rolling update keeps within maxSurge and maxUnavailable and ends on the new template', async (t) => {
  const ns = await namespace('rolling');
  const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 3, { strategy }) });
  await waitFor('3 ready pods', async () => (await readyAll(ns, 'app=web')).filter(isReady).length === 3);
  const before = await podsOf(cluster.core, ns, 'app=web');
  const oldHash = before[0]!.metadata!.labels!['pod-template-hash'];

  await cluster.apps.patchNamespacedDeployment({
    name: 'web', namespace: ns,
    body: { spec: { template: { spec: { containers: [{ name: 'web', image: 'tp/echo-server:latest', env: [{ name: 'V', value: '2' }], ports: [{ name: 'http', containerPort: 8080 }] }] } } } },
  }, MERGE_PATCH);

  // Play kubelet slowly (one pod Ready per step) while checking every snapshot of the pods.
  let maxTotal = 0;
  let minReady = Infinity;
  const done = await waitFor('the rollout to finish', async () => {
    const pods = await podsOf(cluster.core, ns, 'app=web');
    maxTotal = Math.max(maxTotal, pods.length);
    minReady = Math.min(minReady, pods.filter(isReady).length);
    const unready = pods.find((pod) => !isReady(pod));
    if (unready) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await setPodReady(cluster.core, unready, true);
    }
    const d = await cluster.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    const allNew = pods.length === 3 && pods.every((pod) => pod.metadata?.labels?.['pod-template-hash'] !== oldHash && isReady(pod));
    return allNew && d.status?.updatedReplicas === 3 && d.status?.availableReplicas === 3 && d.status.replicas === 3 && d;
  }, 30_000);
  t.true(maxTotal <= 4, `at most desired + maxSurge pods at once (saw ${maxTotal})`);
  t.true(minReady >= 3, `never fewer than desired - maxUnavailable ready pods (saw ${minReady})`);
  t.is(done.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2');
  const rsList = (await cluster.apps.listNamespacedReplicaSet({ namespace: ns })).items;
  const old = rsList.find((rs) => rs.metadata?.labels?.['pod-template-hash'] === oldHash);
  t.is(old?.spec?.replicas, 0, 'the old ReplicaSet is kept at 0 replicas as history');
});

test('scaling through the /scale subresource adds and removes pods', async (t) => {
  const ns = await namespace('scale');
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 1) });
  await waitFor('1 pod', async () => (await podsOf(cluster.core, ns, 'app=web')).length === 1);
  await cluster.apps.patchNamespacedDeploymentScale({ name: 'web', namespace: ns, body: { spec: { replicas: 4 } } }, MERGE_PATCH);
  await waitFor('4 pods', async () => (await podsOf(cluster.core, ns, 'app=web')).length === 4);
  await cluster.apps.patchNamespacedDeploymentScale({ name: 'web', namespace: ns, body: { spec: { replicas: 2 } } }, MERGE_PATCH);
  const pods = await waitFor('2 pods', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && found;
  });
  t.is(pods.length, 2);
  const scale = await cluster.apps.readNamespacedDeploymentScale({ name: 'web', namespace: ns });
  t.is(scale.spec?.replicas, 2);
});

test('a deleted pod is replaced by a new one', async (t) => {
  const ns = await namespace('replace');
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
  const pods = await waitFor('2 pods', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && found;
  });
  const victim = pods[0]!.metadata!.name!;
  await cluster.core.deleteNamespacedPod({ name: victim, namespace: ns });
  const after = await waitFor('a replacement', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && !found.some((pod) => pod.metadata?.name === victim) && found;
  });
  t.is(after.length, 2);
});

test('Endpoints and EndpointSlices follow pod readiness and resolve named target ports', async (t) => {
  const ns = await namespace('endpoints');
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
  await cluster.core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  const pods = await waitFor('2 pods', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && found;
  });
  await setPodReady(cluster.core, pods[0]!, true);
  await setPodReady(cluster.core, pods[1]!, false);
  const ep = await waitFor('one ready and one unready address', async () => {
    const e = await cluster.core.readNamespacedEndpoints({ name: 'web', namespace: ns });
    const subset = e.subsets?.[0];
    return subset?.addresses?.length === 1 && subset.notReadyAddresses?.length === 1 && e;
  });
  const subset = ep.subsets![0]!;
  t.deepEqual(subset.ports?.map((p) => p.port), [8080]);
  t.is(subset.addresses![0]!.targetRef?.name, pods[0]!.metadata!.name);

  await setPodReady(cluster.core, (await cluster.core.readNamespacedPod({ name: pods[1]!.metadata!.name!, namespace: ns })), true);
  await waitFor('both addresses ready', async () => {
    const e = await cluster.core.readNamespacedEndpoints({ name: 'web', namespace: ns });
    return e.subsets?.[0]?.addresses?.length === 2 && !e.subsets[0].notReadyAddresses;
  });
  const slices = await waitFor('an EndpointSlice with both pods ready', async () => {
    const list = (await cluster.discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' })).items;
    return list.length === 1 && list[0]!.endpoints?.filter((e) => e.conditions?.ready).length === 2 && list;
  });
  t.is(slices[0]!.ports?.[0]?.port, 8080);
  t.is(slices[0]!.addressType, 'IPv4');

  await cluster.core.deleteNamespacedService({ name: 'web', namespace: ns });
  await waitFor('the Endpoints to go with the Service', async () => {
    try {
      await cluster.core.readNamespacedEndpoints({ name: 'web', namespace: ns });
      return false;
    } catch (error) {
      return (error as { code?: number }).code === 404;
    }
  });
});

test('a terminating pod leaves the Endpoints, stays in the EndpointSlice as serving and terminating, and is replaced at once', async (t) => {
  const ns = await namespace('terminating');
  await cluster.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 1) });
  await cluster.core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  const [pod] = await waitFor('1 pod', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 1 && found;
  });
  const name = pod!.metadata!.name!;
  // Bound to a node, as the kubelet does: only then is deletion graceful.
  await cluster.core.createNamespacedPodBinding({ namespace: ns, name, body: { metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: 'sandbox-node' } } });
  await setPodReady(cluster.core, await cluster.core.readNamespacedPod({ name, namespace: ns }), true);
  await waitFor('the pod in the Endpoints', async () => (await cluster.core.readNamespacedEndpoints({ name: 'web', namespace: ns })).subsets?.[0]?.addresses?.length === 1);

  await cluster.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 60 });
  const terminating = await cluster.core.readNamespacedPod({ name, namespace: ns });
  t.truthy(terminating.metadata?.deletionTimestamp, 'the pod stays, marked for deletion');
  t.is(terminating.metadata?.deletionGracePeriodSeconds, 60);

  const replacement = await waitFor('a replacement beside the terminating pod', async () => {
    const found = await podsOf(cluster.core, ns, 'app=web');
    return found.length === 2 && found.find((p) => p.metadata?.name !== name);
  });
  await setPodReady(cluster.core, replacement, true);
  const ep = await waitFor('only the replacement in the Endpoints', async () => {
    const e = await cluster.core.readNamespacedEndpoints({ name: 'web', namespace: ns });
    const addresses = [...(e.subsets?.[0]?.addresses ?? []), ...(e.subsets?.[0]?.notReadyAddresses ?? [])];
    return addresses.length === 1 && addresses[0]!.targetRef?.name === replacement.metadata?.name && e;
  });
  t.falsy(ep.subsets?.[0]?.notReadyAddresses, 'a terminating pod is not even a not-ready address');
  const old = await waitFor('the terminating pod in the EndpointSlice', async () => {
    const slices = (await cluster.discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' })).items;
    return slices[0]?.endpoints?.length === 2 && slices[0].endpoints.find((e) => e.targetRef?.name === name);
  });
  t.deepEqual({ ...old.conditions }, { ready: false, serving: true, terminating: true });
  const rs = (await cluster.apps.listNamespacedReplicaSet({ namespace: ns })).items[0]!;
  t.is((await waitFor('the ReplicaSet to count 1 replica', async () => {
    const current = await cluster.apps.readNamespacedReplicaSet({ name: rs.metadata!.name!, namespace: ns });
    return current.status?.readyReplicas === 1 && current;
  })).status?.replicas, 1, 'the terminating pod is not counted');

  await cluster.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
  await waitFor('the pod gone after a delete with grace 0', async () => !(await podsOf(cluster.core, ns, 'app=web')).some((p) => p.metadata?.name === name));
  t.is((await podsOf(cluster.core, ns, 'app=web')).length, 1);
});

test('a Service without a selector keeps the Endpoints its user wrote', async (t) => {
  const ns = await namespace('manual');
  await cluster.core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'ext' }, spec: { ports: [{ port: 80 }] } } });
  await cluster.core.createNamespacedEndpoints({ namespace: ns, body: { metadata: { name: 'ext' }, subsets: [{ addresses: [{ ip: '192.0.2.7' }], ports: [{ port: 80 }] }] } });
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // at least one resync
  const e = await cluster.core.readNamespacedEndpoints({ name: 'ext', namespace: ns });
  t.is(e.subsets?.[0]?.addresses?.[0]?.ip, '192.0.2.7');
});

test('a StatefulSet starts pods in order, each after the previous is Ready, and scales down from the top', async (t) => {
  const ns = await namespace('stateful');
  await cluster.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'busybox' }] } },
      },
    },
  });
  for (let ordinal = 0; ordinal < 3; ordinal++) {
    const pods = await waitFor(`db-${ordinal}`, async () => {
      const found = await podsOf(cluster.core, ns, 'app=db');
      return found.length === ordinal + 1 && found;
    });
    const pod = pods.find((p) => p.metadata?.name === `db-${ordinal}`);
    t.truthy(pod, `db-${ordinal} exists`);
    t.is(pod?.spec?.hostname, `db-${ordinal}`);
    t.is(pod?.spec?.subdomain, 'db');
    // Not Ready yet: the next ordinal must not appear.
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.is((await podsOf(cluster.core, ns, 'app=db')).length, ordinal + 1);
    await setPodReady(cluster.core, pod!, true);
  }
  const sts = await waitFor('status with 3 ready', async () => {
    const s = await cluster.apps.readNamespacedStatefulSet({ name: 'db', namespace: ns });
    return s.status?.readyReplicas === 3 && s;
  });
  t.is(sts.status?.currentRevision, sts.status?.updateRevision);

  await cluster.apps.patchNamespacedStatefulSetScale({ name: 'db', namespace: ns, body: { spec: { replicas: 1 } } }, MERGE_PATCH);
  const seen: string[][] = [];
  await waitFor('one pod left', async () => {
    const names = (await podsOf(cluster.core, ns, 'app=db')).map((p) => p.metadata!.name!).sort();
    if (seen.at(-1)?.join() !== names.join()) seen.push(names);
    return names.length === 1 && names[0] === 'db-0';
  });
  t.false(seen.some((names) => names.includes('db-2') && !names.includes('db-1')), 'db-2 goes before db-1');
});

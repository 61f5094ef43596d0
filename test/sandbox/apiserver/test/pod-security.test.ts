// Pod Security admission over real HTTPS requests: a namespace labelled
// pod-security.kubernetes.io/enforce rejects violating pods with the upstream 403 message, lets
// compliant ones in, and only warns (Warning header) on workloads whose template would violate.
import test from 'ava';
import { request as httpsRequest } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, statusOf, type TestCluster } from './helpers.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;

const RESTRICTED_CONTAINER: k8s.V1SecurityContext = {
  runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
};

function pod(name: string, container: Partial<k8s.V1Container> = {}, spec: Partial<k8s.V1PodSpec> = {}, generateName?: string): k8s.V1Pod {
  return {
    metadata: generateName ? { generateName } : { name },
    spec: { containers: [{ name: 'app', image: 'tp/echo-server:1', ...container }], ...spec },
  };
}

async function namespace(name: string, labels: Record<string, string>): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
}

async function createFails(ns: string, body: k8s.V1Pod): Promise<ReturnType<typeof statusOf>> {
  const error = await core.createNamespacedPod({ namespace: ns, body }).then(() => undefined, (err: unknown) => err);
  if (!error) throw new Error(`pod ${body.metadata?.name} was admitted`);
  return statusOf(error);
}

/** A raw POST, to see the response headers client-node does not expose. */
function post(path: string, body: unknown): Promise<{ status: number; warnings: string[] }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${cluster.server.url}${path}`, {
      method: 'POST', ca: cluster.caCert,
      headers: { Authorization: `Bearer ${cluster.adminToken}`, 'Content-Type': 'application/json' },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const raw = res.headers.warning;
        resolve({ status: res.statusCode ?? 0, warnings: raw === undefined ? [] : Array.isArray(raw) ? raw : [raw] });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test.before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  await namespace('strict', { 'pod-security.kubernetes.io/enforce': 'restricted' });
  await namespace('base', { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.32' });
  await namespace('open', { 'pod-security.kubernetes.io/warn': 'restricted' });
});
test.after.always(async () => {
  await cluster?.close();
});

test('restricted: a pod without a securityContext is a 403 naming every missing field, in upstream wording and order', async (t) => {
  const status = await createFails('strict', pod('plain'));
  t.is(status.code, 403);
  t.is(status.reason, 'Forbidden');
  t.is(status.message, 'pods "plain" is forbidden: violates PodSecurity "restricted:latest": ' +
    'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ' +
    'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ' +
    'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ' +
    'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")');
  t.false((await core.listNamespacedPod({ namespace: 'strict' })).items.some((p) => p.metadata?.name === 'plain'));
});

test('restricted: a compliant pod is admitted; pod-level runAsNonRoot and seccomp count for every container; NET_BIND_SERVICE may be added', async (t) => {
  t.is((await core.createNamespacedPod({ namespace: 'strict', body: pod('ok', { securityContext: RESTRICTED_CONTAINER }) })).metadata?.name, 'ok');
  const podLevel = pod('pod-level', { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } },
    { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } });
  t.is((await core.createNamespacedPod({ namespace: 'strict', body: podLevel })).metadata?.name, 'pod-level');
});

test('restricted: each remaining violation is reported, for several containers and for generated names', async (t) => {
  const bad = pod('', { securityContext: { ...RESTRICTED_CONTAINER, runAsUser: 0, capabilities: { drop: ['ALL'], add: ['SYS_ADMIN', 'NET_RAW'] } } },
    { initContainers: [{ name: 'init', image: 'busybox', securityContext: { ...RESTRICTED_CONTAINER, allowPrivilegeEscalation: true } }], volumes: [{ name: 'host', hostPath: { path: '/' } }] },
    'web-5d8f7c9b4-');
  const status = await createFails('strict', bad);
  t.is(status.message, 'pods "web-5d8f7c9b4-" is forbidden: violates PodSecurity "restricted:latest": ' +
    'allowPrivilegeEscalation != false (container "init" must set securityContext.allowPrivilegeEscalation=false), ' +
    'unrestricted capabilities (container "app" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add), ' +
    'restricted volume types (volume "host" uses restricted volume type "hostPath"), ' +
    'runAsUser=0 (container "app" must not set runAsUser=0)');
  const two = await createFails('strict', { metadata: { name: 'two' }, spec: { containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox', securityContext: RESTRICTED_CONTAINER }, { name: 'c', image: 'busybox' }] } });
  t.regex(two.message ?? '', /allowPrivilegeEscalation != false \(containers "a", "c" must set securityContext\.allowPrivilegeEscalation=false\)/);
});

test('baseline: host namespaces, hostPath and privileged are refused; running as root without a securityContext is fine', async (t) => {
  const status = await createFails('base', pod('host', { securityContext: { privileged: true } }, { hostNetwork: true, hostPID: true, volumes: [{ name: 'h', hostPath: { path: '/etc' } }] }));
  t.is(status.message, 'pods "host" is forbidden: violates PodSecurity "baseline:v1.32": ' +
    'host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume "h"), privileged (container "app" must not set securityContext.privileged=true)');
  t.is((await core.createNamespacedPod({ namespace: 'base', body: pod('root-ok') })).metadata?.name, 'root-ok');
});

test('workloads are not rejected but carry the upstream warning; a warn label warns for pods too; unlabelled namespaces say nothing', async (t) => {
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'tp/echo-server:1', securityContext: { ...RESTRICTED_CONTAINER, allowPrivilegeEscalation: undefined } }] } } },
  };
  const created = await post('/apis/apps/v1/namespaces/strict/deployments', deployment);
  t.is(created.status, 201);
  t.deepEqual(created.warnings, ['299 - "would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation != false (container \\"app\\" must set securityContext.allowPrivilegeEscalation=false)"']);
  const warned = await post('/api/v1/namespaces/open/pods', pod('warned'));
  t.is(warned.status, 201);
  t.is(warned.warnings.length, 1);
  t.regex(warned.warnings[0], /^299 - "would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation != false/);
  t.deepEqual((await post('/api/v1/namespaces/default/pods', pod('quiet'))).warnings, []);
});

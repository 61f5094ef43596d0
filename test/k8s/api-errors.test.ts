// What tp says when the Kubernetes API refuses it, against a real API server (the sandbox's, which
// answers as a default kube-apiserver): no credentials at all (403 for system:anonymous), a token
// it does not know (401), and RBAC refusing a named user (403 with the permission to ask for).
// Also: a kubeconfig context without a user still trusts its cluster's CA.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { kubeCall, kubeError } from '../../src/k8s/api-errors.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { TpError } from '../../src/errors.js';
import { startTestCluster, type TestCluster } from '../sandbox/apiserver/test/helpers.js';

let cluster: TestCluster;
const dir = mkdtempSync(join(tmpdir(), 'tp-api-errors-'));

test.before(async () => {
  cluster = await startTestCluster();
});
test.after.always(async () => {
  await cluster?.close();
});

/** A kubeconfig file for the test cluster; `user` undefined leaves the context without one. */
function kubeconfigFile(name: string, user: Record<string, unknown> | undefined): string {
  const yaml = {
    apiVersion: 'v1', kind: 'Config', 'current-context': name,
    clusters: [{ name: 'c', cluster: { server: cluster.server.url, 'certificate-authority-data': Buffer.from(cluster.caCert).toString('base64') } }],
    contexts: [{ name, context: { cluster: 'c', ...(user ? { user: 'u' } : {}), namespace: 'default' } }],
    users: user ? [{ name: 'u', user }] : [],
  };
  const path = join(dir, `${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify(yaml), { mode: 0o600 });
  return path;
}

async function failure(kc: KubeConfig): Promise<TpError> {
  const error = await kubeCall('listing pods in namespace "default"', () => kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' })).then(
    () => undefined, (err: unknown) => err);
  if (!(error instanceof TpError)) throw new Error(`expected a TpError, got ${String(error)}`);
  return error;
}

test('a context without a user talks TLS with the cluster CA and is anonymous: public info works, the rest names the missing credentials', async (t) => {
  const kc = loadKubeConfig({ kubeconfig: kubeconfigFile('no-user', undefined) });
  t.is((await kc.makeApiClient(VersionApi).getCode()).gitVersion, 'v1.32.0');
  const error = await failure(kc);
  t.is(error.code, 'TP_ERR_KUBE_NO_CREDENTIALS');
  t.regex(error.message, /saw no credentials while listing pods in namespace "default"/);
  t.regex(error.message, /"system:anonymous"/);
  t.regex(error.hints.join('\n'), /kubectl config view --minify/);
});

test('a user entry with no token, certificate or exec plugin gets the same no-credentials error', async (t) => {
  const error = await failure(loadKubeConfig({ kubeconfig: kubeconfigFile('empty-user', {}) }));
  t.is(error.code, 'TP_ERR_KUBE_NO_CREDENTIALS');
});

test('a context naming a user the kubeconfig lacks is a kubeconfig error, not an anonymous request', (t) => {
  const path = join(dir, 'ghost.kubeconfig');
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'ghost',
    clusters: [{ name: 'c', cluster: { server: cluster.server.url } }], contexts: [{ name: 'ghost', context: { cluster: 'c', user: 'nobody' } }], users: [] }));
  const error = t.throws(() => loadKubeConfig({ kubeconfig: path }), { instanceOf: TpError });
  t.is(error?.code, 'TP_ERR_KUBECONFIG');
  t.regex(error?.message ?? '', /names user "nobody", which is not in the kubeconfig/);
});

test('a token the server does not know is 401: refused credentials, with how to get fresh ones', async (t) => {
  const error = await failure(loadKubeConfig({ kubeconfig: kubeconfigFile('bad-token', { token: 'not-a-token' }) }));
  t.is(error.code, 'TP_ERR_KUBE_UNAUTHORIZED');
  t.regex(error.message, /refused our credentials while listing pods/);
  t.regex(error.hints.join('\n'), /Log in to the cluster again/);
});

test('RBAC refusing a named user names the user, the permission to ask for and the kubectl auth can-i that checks it', async (t) => {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'nobody' } } });
  const token = (await core.createNamespacedServiceAccountToken({ namespace: 'default', name: 'nobody', body: { spec: { audiences: [] } } })).status?.token ?? '';
  const error = await failure(loadKubeConfig({ kubeconfig: kubeconfigFile('named', { token }) }));
  t.is(error.code, 'TP_ERR_KUBE_FORBIDDEN');
  t.regex(error.message, /^Kubernetes RBAC does not allow listing pods in namespace "default": pods is forbidden: User "system:serviceaccount:default:nobody"/);
  t.deepEqual(error.hints, [
    'Ask a cluster admin to allow User "system:serviceaccount:default:nobody" to list pods in namespace "default" (a Role and RoleBinding there).',
    'Check with: kubectl auth can-i list pods -n default',
  ]);
});

test('a refused subresource or cluster-scoped resource gets the matching kubectl auth can-i', (t) => {
  const denied = (message: string): TpError => kubeError('opening a port-forward', new ApiException(403, 'Forbidden', JSON.stringify({ kind: 'Status', code: 403, message }), {}));
  t.deepEqual(denied('pods "m" is forbidden: User "alice" cannot create resource "pods/portforward" in API group "" in the namespace "tp"').hints, [
    'Ask a cluster admin to allow User "alice" to create pods/portforward in namespace "tp" (a Role and RoleBinding there).',
    'Check with: kubectl auth can-i create pods --subresource=portforward -n tp',
  ]);
  t.deepEqual(denied('namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope').hints, [
    'Ask a cluster admin to allow User "alice" to list namespaces cluster-wide (a ClusterRole and ClusterRoleBinding).',
    'Check with: kubectl auth can-i list namespaces',
  ]);
  t.deepEqual(denied('deployments.apps "d" is forbidden: User "alice" cannot patch resource "deployments" in API group "apps" in the namespace "b"').hints[1], 'Check with: kubectl auth can-i patch deployments.apps -n b');
});

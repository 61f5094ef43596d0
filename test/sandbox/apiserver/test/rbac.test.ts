import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, statusOf, type TestCluster } from './helpers.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
let rbac: k8s.RbacAuthorizationV1Api;

test.before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  rbac = cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: 'team' } } });
  await core.createNamespacedServiceAccount({ namespace: 'team', body: { metadata: { name: 'reader' } } });
  await rbac.createNamespacedRole({ namespace: 'team', body: {
    metadata: { name: 'pod-reader' },
    rules: [
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['allowed'] },
    ],
  } });
  await rbac.createNamespacedRoleBinding({ namespace: 'team', body: {
    metadata: { name: 'reader-binding' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'team' }],
  } });
});
test.after.always(async () => {
  await cluster?.close();
});

async function tokenFor(namespace: string, name: string): Promise<string> {
  const request = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return request.status?.token ?? '';
}

test('a service-account token is allowed what its Role grants and denied the rest with the upstream 403 message', async (t) => {
  const token = await tokenFor('team', 'reader');
  const asReader = cluster.kubeConfig(token).makeApiClient(k8s.CoreV1Api);
  t.deepEqual((await asReader.listNamespacedPod({ namespace: 'team' })).items, []);
  const denied = statusOf(await t.throwsAsync(asReader.createNamespacedPod({ namespace: 'team', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'm', image: 'busybox' }] } } })));
  t.like(denied, { code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "system:serviceaccount:team:reader" cannot create resource "pods" in API group "" in the namespace "team"' });
  const other = statusOf(await t.throwsAsync(asReader.readNamespacedPod({ name: 'x', namespace: 'default' })));
  t.is(other.message, 'pods "x" is forbidden: User "system:serviceaccount:team:reader" cannot get resource "pods" in API group "" in the namespace "default"');
  const cluserScoped = statusOf(await t.throwsAsync(asReader.listNamespace()));
  t.is(cluserScoped.message, 'namespaces is forbidden: User "system:serviceaccount:team:reader" cannot list resource "namespaces" in API group "" at the cluster scope');
  await core.createNamespacedConfigMap({ namespace: 'team', body: { metadata: { name: 'allowed' } } });
  await core.createNamespacedConfigMap({ namespace: 'team', body: { metadata: { name: 'secret-ish' } } });
  t.is((await asReader.readNamespacedConfigMap({ name: 'allowed', namespace: 'team' })).metadata?.name, 'allowed');
  t.is(statusOf(await t.throwsAsync(asReader.readNamespacedConfigMap({ name: 'secret-ish', namespace: 'team' }))).code, 403);
});

test('every authenticated user may read discovery and /version', async (t) => {
  const token = await tokenFor('team', 'reader');
  const versionApi = cluster.kubeConfig(token).makeApiClient(k8s.VersionApi);
  t.is((await versionApi.getCode()).gitVersion, 'v1.32.0');
  const coreApi = cluster.kubeConfig(token).makeApiClient(k8s.CoreApi);
  t.deepEqual((await coreApi.getAPIVersions()).versions, ['v1']);
});

test('SelfSubjectAccessReview answers for the caller; SubjectAccessReview for anyone', async (t) => {
  const token = await tokenFor('team', 'reader');
  const authz = cluster.kubeConfig(token).makeApiClient(k8s.AuthorizationV1Api);
  const can = async (verb: string, resource: string, subresource?: string): Promise<boolean> =>
    (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace: 'team', verb, resource, subresource } } } })).status?.allowed ?? false;
  t.true(await can('list', 'pods'));
  t.true(await can('get', 'pods', 'log'));
  t.false(await can('create', 'pods', 'portforward'));
  t.false(await can('delete', 'pods'));
  const adminAuthz = cluster.kubeConfig().makeApiClient(k8s.AuthorizationV1Api);
  const review = await adminAuthz.createSubjectAccessReview({ body: { spec: { user: 'system:serviceaccount:team:reader', groups: ['system:serviceaccounts'], resourceAttributes: { namespace: 'team', verb: 'watch', resource: 'pods' } } } });
  t.true(review.status?.allowed);
  const nonResource = await adminAuthz.createSubjectAccessReview({ body: { spec: { user: 'someone', groups: ['system:authenticated'], nonResourceAttributes: { path: '/apis/apps', verb: 'get' } } } });
  t.true(nonResource.status?.allowed);
});

test('TokenReview validates tokens; a deleted service account invalidates its tokens', async (t) => {
  await core.createNamespacedServiceAccount({ namespace: 'team', body: { metadata: { name: 'temp' } } });
  const token = await tokenFor('team', 'temp');
  const authn = cluster.kubeConfig().makeApiClient(k8s.AuthenticationV1Api);
  const review = await authn.createTokenReview({ body: { spec: { token } } });
  t.true(review.status?.authenticated);
  t.is(review.status?.user?.username, 'system:serviceaccount:team:temp');
  t.deepEqual(review.status?.user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated']);
  const bogus = await authn.createTokenReview({ body: { spec: { token: `${token.slice(0, -2)}xx` } } });
  t.false(bogus.status?.authenticated);
  await core.deleteNamespacedServiceAccount({ name: 'temp', namespace: 'team' });
  const asDeleted = cluster.kubeConfig(token).makeApiClient(k8s.CoreV1Api);
  t.is(statusOf(await t.throwsAsync(asDeleted.listNamespacedPod({ namespace: 'team' }))).code, 401);
});

test('a legacy service-account token Secret gets token, ca.crt and namespace, and the token works', async (t) => {
  await core.createNamespacedServiceAccount({ namespace: 'team', body: { metadata: { name: 'manager' } } });
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: 'manager-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'ServiceAccount', name: 'manager', namespace: 'team' }],
  } });
  const secret = await core.createNamespacedSecret({ namespace: 'team', body: {
    metadata: { name: 'manager-token', annotations: { 'kubernetes.io/service-account.name': 'manager' } },
    type: 'kubernetes.io/service-account-token',
  } });
  const decode = (v?: string): string => Buffer.from(v ?? '', 'base64').toString('utf8');
  t.is(decode(secret.data?.['ca.crt']), cluster.caCert);
  t.is(decode(secret.data?.namespace), 'team');
  const asManager = cluster.kubeConfig(decode(secret.data?.token)).makeApiClient(k8s.CoreV1Api);
  t.true((await asManager.listPodForAllNamespaces()).items.length >= 0);
  t.is(statusOf(await t.throwsAsync(asManager.deleteNamespacedPod({ name: 'x', namespace: 'team' }))).code, 403);
  await core.deleteNamespacedSecret({ name: 'manager-token', namespace: 'team' });
  t.is(statusOf(await t.throwsAsync(asManager.listPodForAllNamespaces())).code, 401);
});

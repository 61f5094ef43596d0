// Who a request is when it carries no credentials, as on a default kube-apiserver (anonymous auth
// on): no token is user system:anonymous, whom RBAC lets read health and version and nothing else
// (403 with the upstream message); a token the server does not know is 401. Real HTTPS requests.
import test from 'ava';
import { request as httpsRequest } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster;

test.before(async () => {
  cluster = await startTestCluster();
});
test.after.always(async () => {
  await cluster?.close();
});

interface Reply { status: number; body: string; json?: Record<string, unknown> }

function get(path: string, authorization?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
    const req = httpsRequest(`${cluster.server.url}${path}`, { ca: cluster.caCert, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('without credentials a request is system:anonymous: 403 with the upstream message for paths and resources', async (t) => {
  const api = await get('/api');
  t.is(api.status, 403);
  t.like(api.json, { kind: 'Status', reason: 'Forbidden', code: 403, message: 'forbidden: User "system:anonymous" cannot get path "/api"' });
  const pods = await get('/api/v1/namespaces/default/pods');
  t.is(pods.status, 403);
  t.like(pods.json, { reason: 'Forbidden', message: 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"' });
  const one = await get('/apis/apps/v1/namespaces/default/deployments/hello');
  t.is(one.json?.message, 'deployments.apps "hello" is forbidden: User "system:anonymous" cannot get resource "deployments" in API group "apps" in the namespace "default"');
});

test('anonymous callers may read health and version (system:public-info-viewer), as upstream', async (t) => {
  for (const path of ['/healthz', '/livez', '/readyz']) t.like(await get(path), { status: 200, body: 'ok' });
  t.like((await get('/version')).json, { gitVersion: 'v1.32.0' });
  const binding = await cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api).readClusterRoleBinding({ name: 'system:public-info-viewer' });
  t.deepEqual(binding.subjects?.map((s) => s.name), ['system:authenticated', 'system:unauthenticated']);
});

test('a bearer token the server does not know is 401 everywhere, even on /healthz; other schemes are anonymous', async (t) => {
  t.like((await get('/api', 'Bearer not-a-token')).json, { kind: 'Status', reason: 'Unauthorized', code: 401 });
  t.is((await get('/healthz', 'Bearer not-a-token')).status, 401);
  t.is((await get('/api', `Basic ${Buffer.from('a:b').toString('base64')}`)).json?.message, 'forbidden: User "system:anonymous" cannot get path "/api"');
});

test('RBAC can grant the anonymous user like any other: a binding to system:anonymous opens that resource only', async (t) => {
  const rbac = cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'anon-cm' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: 'default', body: {
    metadata: { name: 'anon-cm' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'anon-cm' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
  } });
  t.is((await get('/api/v1/namespaces/default/configmaps')).status, 200);
  t.is((await get('/api/v1/namespaces/default/secrets')).status, 403);
});

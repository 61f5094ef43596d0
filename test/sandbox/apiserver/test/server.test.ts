import test from 'ava';
import https from 'node:https';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster } from './helpers.js';

function get(options: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(options, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

test('the same API is served on the unix socket; health endpoints answer ok; close() is idempotent and removes the socket', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-apiserver-sock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'api.sock');
  const cluster = await startTestCluster({ socketPath });
  t.teardown(() => cluster.close());
  const viaSocket = await get({ socketPath, path: '/api/v1/namespaces/default/services/kubernetes', ca: cluster.caCert, servername: 'kubernetes.default.svc', headers: { Authorization: `Bearer ${cluster.adminToken}` } });
  t.is(viaSocket.status, 200);
  t.is((JSON.parse(viaSocket.body) as { spec: { clusterIP: string } }).spec.clusterIP, '198.19.0.1');
  for (const path of ['/healthz', '/livez', '/readyz']) {
    t.deepEqual(await get({ host: '127.0.0.1', port: cluster.server.port, path, ca: cluster.caCert }), { status: 200, body: 'ok' });
  }
  const discovery = JSON.parse((await get({ host: '127.0.0.1', port: cluster.server.port, path: '/apis/apps/v1', ca: cluster.caCert, headers: { Authorization: `Bearer ${cluster.adminToken}` } })).body) as { resources: { name: string; shortNames?: string[]; kind: string }[] };
  t.deepEqual(discovery.resources.find((r) => r.name === 'deployments')?.shortNames, ['deploy']);
  t.is(discovery.resources.find((r) => r.name === 'deployments/scale')?.kind, 'Scale');
  await Promise.all([cluster.close(), cluster.close()]);
  await t.throwsAsync(stat(socketPath));
});

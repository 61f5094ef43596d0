import test from 'ava';
import { CoreV1Api } from '@kubernetes/client-node';
import { describeLink, describeTunnel } from '../../src/commands/status.js';
import { API_VERSION } from '../../src/api/control-api.js';
import { checkManagerApi, ManagerLink, reconnectDelayMs, scrubSecrets, type ManagerLinkStatus } from '../../src/daemon/manager-link.js';
import { CLIENT_TOKEN_KEY, CLIENT_TOKEN_SECRET } from '../../src/api/names.js';
import { startManager } from '../../src/manager/server.js';
import { startTestCluster } from '../sandbox/apiserver/test/helpers.js';

test('the reconnect back-off starts at once, doubles per failure, stays under its cap and is jittered', (t) => {
  t.is(reconnectDelayMs(0), 0);
  const lowest = [1, 2, 3, 4, 5, 6, 10, 100].map((failures) => reconnectDelayMs(failures, () => 0));
  const highest = [1, 2, 3, 4, 5, 6, 10, 100].map((failures) => reconnectDelayMs(failures, () => 1));
  t.deepEqual(highest, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  t.deepEqual(lowest, highest.map((ms) => ms / 2));
  const spread = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(3)));
  t.true(spread.size > 1, 'no jitter');
  t.true([...spread].every((ms) => ms >= 500 && ms <= 1000), [...spread].join(' '));
});

test('error text in status and logs loses URL credentials, bearer tokens and known secrets', (t) => {
  const secret = 's3cr3t-client-token-value';
  const text = `Could not reach https://alice:pw@manager.example/tunnel?token=abc.def: Authorization: Bearer eyJhbGciOi.x-y echoed ${secret}`;
  const clean = scrubSecrets(text, [secret]);
  t.is(clean, 'Could not reach https://[redacted]@manager.example/tunnel?token= [redacted]: Authorization: Bearer [redacted] echoed [redacted]');
  for (const leaked of ['alice', 'pw@', 'abc.def', 'eyJhbGciOi', secret]) t.false(clean.includes(leaked), leaked);
});

const base: ManagerLinkStatus = { state: 'connected', via: 'port-forward', stateSince: '2026-01-01T00:00:00.000Z', reconnects: 0, tunnels: [] };

test('tp status says since when the link is down, how often it tried, when it tries next and why it failed', (t) => {
  const now = Date.parse('2026-01-01T00:00:12.000Z');
  const line = describeLink({
    ...base,
    state: 'reconnecting',
    reconnects: 2,
    outage: { since: '2026-01-01T00:00:00.000Z', attempts: 4, nextAttemptAt: '2026-01-01T00:00:14.500Z', lastError: 'The traffic-manager has no ready pod.' },
  }, now);
  t.is(line, 'no tunnel since 2026-01-01T00:00:00.000Z (12.0 s), 4 failed attempts, next try in 2.5 s; last error: The traffic-manager has no ready pod.');
});

test('tp status keeps the last outage once the link is back', (t) => {
  const line = describeLink({ ...base, reconnects: 3, outage: { since: '2026-01-01T00:00:00.000Z', until: '2026-01-01T00:00:06.250Z', attempts: 5, lastError: 'the tunnel transport closed' } });
  t.is(line, 'reconnects 3, last outage 2026-01-01T00:00:00.000Z for 6.3 s (the tunnel transport closed)');
  t.is(describeLink(base), 'reconnects 0');
});

test('tp status shows a tunnel\'s round trip once measured and says "measuring" before', (t) => {
  const tunnel = { id: 'c1', openStreams: 2, bytesIn: 10, bytesOut: 20 };
  t.is(describeTunnel(tunnel), 'tunnel c1: 2 streams, 10 B in, 20 B out, rtt measuring');
  t.is(describeTunnel({ ...tunnel, rttMs: 0.4321 }), 'tunnel c1: 2 streams, 10 B in, 20 B out, rtt 0.4 ms');
});

test('every tunnel has its round trip measured as soon as the link has started', async (t) => {
  const cluster = await startTestCluster();
  t.teardown(() => cluster.close());
  const kc = cluster.kubeConfig();
  const token = 'manager-link-test-token';
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'tp' } } });
  await core.createNamespacedSecret({ namespace: 'tp', body: { metadata: { name: CLIENT_TOKEN_SECRET }, data: { [CLIENT_TOKEN_KEY]: Buffer.from(token).toString('base64') } } });
  const manager = await startManager({ kc, namespace: 'tp', clientToken: token, tunnelHost: '127.0.0.1', tunnelPort: 0, portForwardPort: 0 });
  t.teardown(() => manager.close());
  const link = new ManagerLink({ kc, managerNamespace: 'tp', managerUrl: `ws://127.0.0.1:${manager.tunnelPort}/tunnel`, namespace: 'default', tunnels: 2 });
  t.teardown(() => link.close());
  await link.start();
  const tunnels = link.status().tunnels;
  t.true(tunnels.length >= 1);
  for (const tunnel of tunnels) t.is(typeof tunnel.rttMs, 'number', `tunnel ${tunnel.id} has no rtt yet`);
});

test('a manager of another API version is refused with a hint to upgrade it; one of this version passes', (t) => {
  t.notThrows(() => checkManagerApi({ apiVersion: API_VERSION, managerVersion: '0.1.0' }));
  for (const hello of [{ managerVersion: '0.0.9' }, { apiVersion: API_VERSION + 1, managerVersion: '9.0.0' }]) {
    const error = t.throws(() => checkManagerApi(hello), { code: 'TP_ERR_MANAGER_API_VERSION' });
    t.regex(error.message, new RegExp(`speaks API ${hello.apiVersion ?? 1}; this tp \\(.*\\) speaks API ${API_VERSION}`));
    t.regex((error as unknown as { hints: string[] }).hints.join(' '), /tp manager install --upgrade/);
  }
});

import test from 'ava';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { ManagerEvent, ManagerMethod, type HelloResult } from '../../src/api/control-api.js';
import { startManager, type RunningManager } from '../../src/manager/server.js';
import { connectTunnel, OpenError, TunnelError, type Session } from '../../src/tunnel/index.js';
import { startTestCluster, type TestCluster } from '../sandbox/apiserver/test/helpers.js';

const CLIENT_TOKEN = 'manager-test-token';

interface Fixture {
  cluster: TestCluster;
  manager: RunningManager;
}

async function setUp(t: { teardown: (fn: () => unknown) => void }, sessionTtlMs = 60_000): Promise<Fixture> {
  const cluster = await startTestCluster();
  t.teardown(() => cluster.close());
  const manager = await startManager({
    kc: cluster.kubeConfig(),
    namespace: 'tp',
    clientToken: CLIENT_TOKEN,
    tunnelHost: '127.0.0.1',
    tunnelPort: 0,
    portForwardPort: 0,
    sessionTtlMs,
    // The test's destinations live on loopback; keep link-local forbidden to test the policy.
    forbiddenDestinations: ['169.254.0.0/16'],
  });
  t.teardown(() => manager.close());
  return { cluster, manager };
}

async function client(t: { teardown: (fn: () => unknown) => void }, port: number, token = CLIENT_TOKEN): Promise<Session> {
  const session = await connectTunnel(`ws://127.0.0.1:${port}/tunnel`, { token });
  t.teardown(() => session.destroy());
  return session;
}

async function hello(session: Session, resume?: string): Promise<HelloResult> {
  return (await session.request(ManagerMethod.hello, { client: 'alice@laptop', namespace: 'default', version: '0.1.0', resume })) as HelloResult;
}

async function echoServer(t: { teardown: (fn: () => unknown) => void }): Promise<number> {
  const server = net.createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('a client with the token says hello and learns the cluster: namespaces and the service range', async (t) => {
  const { manager } = await setUp(t);
  const result = await hello(await client(t, manager.tunnelPort));
  t.truthy(result.sessionId);
  t.false(result.resumed);
  t.true(result.clusterInfo.namespaces.includes('kube-system'));
  t.deepEqual(result.clusterInfo.serviceCidrs, ['198.19.0.0/16']);
});

test('the tunnel port refuses a wrong token and a missing one', async (t) => {
  const { manager } = await setUp(t);
  for (const token of ['wrong', undefined]) {
    const error = await t.throwsAsync(connectTunnel(`ws://127.0.0.1:${manager.tunnelPort}/tunnel`, { token }), { instanceOf: TunnelError });
    t.is(error?.code, 'TP_ERR_TUNNEL_UNAUTHORIZED');
  }
});

test('the loopback port-forward endpoint needs no client token', async (t) => {
  const { manager } = await setUp(t);
  const result = await hello(await client(t, manager.portForwardPort!, 'port-forward'));
  t.truthy(result.sessionId);
});

test('a stream is dialled by the manager and carries bytes both ways', async (t) => {
  const { manager } = await setUp(t);
  const session = await client(t, manager.tunnelPort);
  await hello(session);
  const stream = await session.open({ host: '127.0.0.1', port: await echoServer(t) });
  stream.end('ping through the manager');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  t.is(Buffer.concat(chunks).toString(), 'ping through the manager');
});

test('streams before hello, to forbidden addresses and to closed ports fail with their reason', async (t) => {
  const { manager } = await setUp(t);
  const session = await client(t, manager.tunnelPort);
  const early = await t.throwsAsync(session.open({ host: '127.0.0.1', port: 1 }), { instanceOf: OpenError });
  t.is(early?.reason, 'forbidden');
  await hello(session);
  const metadata = await t.throwsAsync(session.open({ host: '169.254.169.254', port: 80 }), { instanceOf: OpenError });
  t.is(metadata?.reason, 'forbidden');
  const closed = net.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  const refused = await t.throwsAsync(session.open({ host: '127.0.0.1', port }), { instanceOf: OpenError });
  t.is(refused?.reason, 'refused');
});

test('clients hear about a new namespace through a cluster-info event', async (t) => {
  const { cluster, manager } = await setUp(t);
  const session = await client(t, manager.tunnelPort);
  await hello(session);
  const heard = new Promise<string[]>((resolve) => {
    session.on('control', (event) => {
      const namespaces = (event.body as { namespaces?: string[] }).namespaces ?? [];
      if (event.type === ManagerEvent.clusterInfo && namespaces.includes('team-a')) resolve(namespaces);
    });
  });
  await cluster.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'team-a' } } });
  t.true((await heard).includes('team-a'));
});

test('a client that reconnects in time resumes its session; one that stays away loses it', async (t) => {
  const { manager } = await setUp(t, 300);
  const first = await client(t, manager.tunnelPort);
  const { sessionId } = await hello(first);
  first.destroy();
  const second = await client(t, manager.tunnelPort);
  const resumed = await hello(second, sessionId);
  t.true(resumed.resumed);
  t.is(resumed.sessionId, sessionId);
  const expired = once(manager.sessions, 'expired');
  second.destroy();
  const [gone] = (await expired) as [{ id: string }];
  t.is(gone.id, sessionId);
  const third = await client(t, manager.tunnelPort);
  const fresh = await hello(third, sessionId);
  t.false(fresh.resumed);
  t.not(fresh.sessionId, sessionId);
});

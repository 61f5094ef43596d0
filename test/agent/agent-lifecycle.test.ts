import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { TrafficAgent } from '../../src/agent/agent.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { startAgentRig } from './helpers/agent.js';
import { AGENT_TOKEN, FakeManager, type TestIntercept } from './helpers/fake-manager.js';
import { eventually, get, startEchoServer, startNamedHttpServer } from './helpers/servers.js';

const aliceOn = (appPort: number, laptopPort: number): TestIntercept => ({
  id: 'alice',
  name: 'hello',
  mode: 'personal',
  containerPort: appPort,
  client: 'alice@laptop',
  headers: { 'x-dev': 'alice' },
  laptopPort,
});

test('hello carries workload, pod, ports and the app environment without TP_AGENT_ variables', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const fromEnv = parseAgentConfig({
    TP_AGENT_MANAGER_URL: 'ws://unused.invalid/tunnel',
    TP_AGENT_TOKEN: AGENT_TOKEN,
    TP_AGENT_WORKLOAD: 'StatefulSet/db',
    TP_AGENT_CONTAINER: 'postgres',
    TP_AGENT_NAMESPACE: 'team-a',
    TP_AGENT_POD: 'db-0',
    TP_AGENT_POD_IP: '10.1.0.9',
    TP_AGENT_PORTS: `[{"name":"http","agentPort":9900,"appPort":${app.port}}]`,
    FROM_CONFIGMAP: 'configured',
    MY_POD_NAME: 'db-0',
  });
  const { manager } = await startAgentRig(t, [app.port], { workload: fromEnv.workload, container: fromEnv.container, pod: fromEnv.pod, podIp: fromEnv.podIp, environment: fromEnv.environment });
  const hello = manager.hellos[0];
  t.deepEqual(hello.workload, { kind: 'StatefulSet', name: 'db', namespace: 'team-a' });
  t.like(hello, { pod: 'db-0', podIp: '10.1.0.9', container: 'postgres' });
  t.deepEqual(hello.ports, [{ name: 'http', agentPort: 0, appPort: app.port }]);
  t.deepEqual(hello.environment, { FROM_CONFIGMAP: 'configured', MY_POD_NAME: 'db-0' });
  t.regex(hello.version, /^\d+\.\d+\.\d+/);
});

test('when the manager goes away everything goes to the app, also on an open keep-alive connection', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop-alice');
  const { agent, manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([aliceOn(app.port, laptop.port)]);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  const before = await get(agentPorts[0], '/', { agent: keepAlive, headers: { 'x-dev': 'alice' } });
  t.is(before.servedBy, 'laptop-alice');
  await manager.stop();
  await eventually(() => agent.table.all.length === 0, 3000, 'fail open');
  const sameConnection = await get(agentPorts[0], '/', { agent: keepAlive, headers: { 'x-dev': 'alice' } });
  t.is(sameConnection.servedBy, 'app');
  t.is(sameConnection.clientPort, before.clientPort);
  t.is((await get(agentPorts[0], '/', { headers: { 'x-dev': 'alice' } })).servedBy, 'app');
  t.is(agent.status().manager.state, 'connecting');
});

test('a global intercept fails open to the app when the manager is gone', async (t) => {
  const app = await startEchoServer(t);
  const laptop = await startNamedHttpServer(t, 'laptop');
  const appHttp = await startNamedHttpServer(t, 'app');
  const { agent, manager, agentPorts } = await startAgentRig(t, [appHttp.port, app.port]);
  await manager.setIntercepts([{ id: 'g', name: 'hello', mode: 'global', containerPort: appHttp.port, client: 'a@l', laptopPort: laptop.port }]);
  t.is((await get(agentPorts[0], '/')).servedBy, 'laptop');
  await manager.stop();
  await eventually(() => agent.table.all.length === 0, 3000, 'fail open');
  t.is((await get(agentPorts[0], '/')).servedBy, 'app');
});

test('after the manager comes back the agent says hello again and the intercept resumes', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop-alice');
  const { agent, manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([aliceOn(app.port, laptop.port)]);
  await manager.stop();
  await eventually(() => agent.table.all.length === 0, 3000, 'fail open');
  const ready = manager.waitFor('ready', (r: { ids: string[] }) => r.ids.includes('alice'));
  await manager.restart();
  await ready;
  t.is(manager.hellos.length, 2);
  t.is((await get(agentPorts[0], '/', { headers: { 'x-dev': 'alice' } })).servedBy, 'laptop-alice');
  t.is(agent.status().manager.connects, 2);
});

test('a replaced intercept list changes routing, also for the next request on an open connection', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const alice = await startNamedHttpServer(t, 'laptop-alice');
  const bob = await startNamedHttpServer(t, 'laptop-bob');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([aliceOn(app.port, alice.port)]);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  t.is((await get(agentPorts[0], '/', { agent: keepAlive, headers: { 'x-dev': 'alice' } })).servedBy, 'laptop-alice');
  await manager.setIntercepts([{ ...aliceOn(app.port, bob.port), id: 'bob', client: 'bob@laptop', headers: { 'x-dev': 'bob' } }]);
  t.is((await get(agentPorts[0], '/', { agent: keepAlive, headers: { 'x-dev': 'alice' } })).servedBy, 'app');
  t.is((await get(agentPorts[0], '/', { agent: keepAlive, headers: { 'x-dev': 'bob' } })).servedBy, 'laptop-bob');
  await manager.setIntercepts([]);
  t.is((await get(agentPorts[0], '/', { headers: { 'x-dev': 'bob' } })).servedBy, 'app');
});

test('an intercept the manager will not open a stream for fails open to the app', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const { agent, manager, agentPorts } = await startAgentRig(t, [app.port]);
  // The fake manager knows no intercept "ghost", so it refuses its streams with `forbidden`.
  const applied = new Promise((resolve) => agent.manager.once('applied', resolve));
  manager.sendRaw({ intercepts: [{ id: 'ghost', name: 'g', mode: 'global', containerPort: app.port, client: 'x' }] });
  await applied;
  t.is((await get(agentPorts[0], '/g')).servedBy, 'app');
  const appliedPersonal = new Promise((resolve) => agent.manager.once('applied', resolve));
  manager.sendRaw({ intercepts: [{ id: 'ghost', name: 'g', mode: 'personal', containerPort: app.port, client: 'x', headers: { 'x-dev': 'g' } }] });
  await appliedPersonal;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  t.is((await get(agentPorts[0], '/p1', { agent: keepAlive, headers: { 'x-dev': 'g' } })).servedBy, 'app');
  t.is((await get(agentPorts[0], '/p2', { agent: keepAlive, headers: { 'x-dev': 'g' } })).servedBy, 'app');
  // The fallback connection served one request each time; the stream was asked for again.
  t.is(app.connections, 3);
});

test('a malformed intercept list is survived and its valid entries applied', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { agent, manager, agentPorts } = await startAgentRig(t, [app.port]);
  const ready = manager.waitFor('ready', () => true);
  manager.sendRaw('not a list');
  t.deepEqual(await ready, { ids: [] });
  await manager.setIntercepts([{ id: 'g', name: 'hello', mode: 'global', containerPort: app.port, client: 'a@l', laptopPort: laptop.port }]);
  const mixed = manager.waitFor('ready', () => true);
  manager.sendRaw({ intercepts: [{ id: 'g', name: 'hello', mode: 'global', containerPort: app.port, client: 'a@l' }, { id: 7 }, { mode: 'x' }] });
  t.deepEqual(await mixed, { ids: ['g'] });
  t.is(agent.table.all.length, 1);
  t.is((await get(agentPorts[0], '/')).servedBy, 'laptop');
});

test('a refused token is retried with backoff while all traffic reaches the app', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const manager = await FakeManager.start();
  t.teardown(() => manager.stop());
  const agent = new TrafficAgent(
    { ...parseAgentConfigFor(manager.url, app.port), token: 'agent.default.wrong' },
    { listenHost: '127.0.0.1', backoff: { initialMs: 10, maxMs: 50 } },
  );
  const [listener] = await agent.start();
  t.teardown(() => agent.destroy());
  await eventually(() => (agent.status().manager.lastError ?? '').includes('refused our credentials'), 3000, 'a refused attempt');
  t.is(manager.hellos.length, 0);
  t.is((await get(listener.boundPort, '/')).servedBy, 'app');
  t.false(JSON.stringify(agent.status()).includes('wrong'));
});

test('close() stops accepting, lets an open connection finish, then resolves', async (t) => {
  const app = await startEchoServer(t);
  const { agent, agentPorts } = await startAgentRig(t, [app.port]);
  const client = net.connect({ host: '127.0.0.1', port: agentPorts[0], allowHalfOpen: true });
  t.teardown(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  client.write('first');
  await new Promise((resolve) => client.once('data', resolve));
  let closed = false;
  const closing = agent.close().then(() => (closed = true));
  const refused = await new Promise<string>((resolve) => {
    const late = net.connect({ host: '127.0.0.1', port: agentPorts[0] });
    late.once('connect', () => resolve('connected'));
    late.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
  t.is(refused, 'ECONNREFUSED');
  client.write('second');
  const echoed = await new Promise<string>((resolve) => client.once('data', (data) => resolve(String(data))));
  t.is(echoed, 'second');
  t.false(closed);
  client.end();
  client.resume();
  await closing;
  t.is(agent.status().openConnections, 0);
  await agent.close();
});

function parseAgentConfigFor(managerUrl: string, appPort: number) {
  const config = parseAgentConfig({
    TP_AGENT_MANAGER_URL: managerUrl,
    TP_AGENT_TOKEN: AGENT_TOKEN,
    TP_AGENT_WORKLOAD: 'Deployment/hello',
    TP_AGENT_CONTAINER: 'hello',
    TP_AGENT_NAMESPACE: 'default',
    TP_AGENT_POD: 'hello-1',
    TP_AGENT_PORTS: `[{"agentPort":9900,"appPort":${appPort}}]`,
  });
  return { ...config, ports: [{ agentPort: 0, appPort }] };
}

test('when a global intercept leaves the list its open connections close and new ones reach the app', async (t) => {
  const app = await startEchoServer(t);
  const laptop = await startEchoServer(t);
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([{ id: 'g', name: 'raw', mode: 'global', containerPort: app.port, client: 'a@l', laptopPort: laptop.port }]);
  const client = net.connect({ host: '127.0.0.1', port: agentPorts[0] });
  t.teardown(() => client.destroy());
  client.on('error', () => {});
  client.write('to the laptop');
  await new Promise((resolve) => client.once('data', resolve));
  t.is(Buffer.concat(laptop.received).toString(), 'to the laptop');
  const closed = new Promise((resolve) => client.once('close', resolve));
  await manager.setIntercepts([]);
  await closed;
  const again = net.connect({ host: '127.0.0.1', port: agentPorts[0] });
  t.teardown(() => again.destroy());
  again.write('to the app');
  await new Promise((resolve) => again.once('data', resolve));
  t.is(Buffer.concat(app.received).toString(), 'to the app');
});

import test from 'ava';
import type { AgentInterceptsBody } from '../../src/api/control-api.js';
import { InterceptRegistry, type AgentRecord, type NewIntercept } from '../../src/manager/intercept-registry.js';

const spec = (over: Partial<NewIntercept> = {}): NewIntercept => ({
  name: 'web',
  workload: { kind: 'Deployment', name: 'web', namespace: 'default' },
  service: { name: 'web', port: 80, portName: 'http', targetPort: 'http' },
  container: 'echo',
  containerPort: 8080,
  mode: 'global',
  laptopAddress: '127.0.0.1',
  laptopPort: 8080,
  clientSession: 's1',
  client: 'alice@laptop',
  ...over,
});

function agent(): AgentRecord & { bodies: AgentInterceptsBody[] } {
  const bodies: AgentInterceptsBody[] = [];
  return {
    bodies,
    applied: new Set(),
    hello: { workload: { kind: 'Deployment', name: 'web', namespace: 'default' }, pod: 'web-1', podIp: '10.0.0.1', container: 'echo', ports: [], environment: {}, version: '0' },
    send: (body) => bodies.push(body),
  };
}

test('two global intercepts of one port conflict, naming who holds the first', (t) => {
  const registry = new InterceptRegistry();
  registry.add(spec());
  const error = t.throws(() => registry.add(spec({ clientSession: 's2', client: 'bob@laptop' })));
  t.is((error as { code?: string }).code, 'TP_ERR_INTERCEPT_CONFLICT');
  t.regex(error!.message, /held by alice@laptop/);
});

test('personal intercepts with different headers coexist; the same headers conflict; a global beside them conflicts', (t) => {
  const registry = new InterceptRegistry();
  registry.add(spec({ mode: 'personal', headers: { 'x-dev': 'alice' } }));
  t.notThrows(() => registry.add(spec({ mode: 'personal', headers: { 'x-dev': 'bob' }, clientSession: 's2', client: 'bob@laptop' })));
  t.throws(() => registry.add(spec({ mode: 'personal', headers: { 'X-Dev': 'alice' }, clientSession: 's3', client: 'carol@laptop' })), { message: /same headers/ });
  t.throws(() => registry.add(spec({ clientSession: 's3', client: 'carol@laptop' })), { message: /personal intercept/ });
  t.notThrows(() => registry.add(spec({ containerPort: 9090, clientSession: 's3', client: 'carol@laptop' })), 'another port is free');
});

test('an intercept is ACTIVE once every connected agent applied it, and agents get the full list on every change', async (t) => {
  const registry = new InterceptRegistry();
  const a = agent();
  const b = agent();
  registry.addAgent(a);
  const removeB = registry.addAgent(b);
  const info = registry.add(spec({ mode: 'personal', headers: { 'x-dev': 'alice' } }));
  t.is(registry.get(info.id)!.state, 'WAITING');
  t.deepEqual(a.bodies.at(-1)!.intercepts.map((i) => i.id), [info.id]);
  registry.agentReady(a, [info.id]);
  t.is(registry.get(info.id)!.state, 'WAITING');
  const active = registry.waitActive(info.id, 1000);
  registry.agentReady(b, [info.id]);
  t.is((await active).state, 'ACTIVE');
  removeB();
  t.is(registry.get(info.id)!.state, 'ACTIVE');
  registry.remove(info.id, 'left');
  t.deepEqual(a.bodies.at(-1)!.intercepts, []);
});

test('waiting for an intercept that is removed fails with the reason', async (t) => {
  const registry = new InterceptRegistry();
  const info = registry.add(spec());
  const waiting = registry.waitActive(info.id, 1000);
  registry.remove(info.id, 'the client session expired');
  await t.throwsAsync(waiting, { message: /client session expired/ });
});

test('a held intercept reaches no agent and stays WAITING until released, yet still blocks a conflicting one', (t) => {
  const registry = new InterceptRegistry();
  const a = agent();
  registry.addAgent(a);
  const info = registry.add(spec(), { held: true });
  t.deepEqual(a.bodies.at(-1)!.intercepts, [], 'the agent is not told yet');
  registry.agentReady(a, []);
  t.is(registry.get(info.id)!.state, 'WAITING');
  t.regex(registry.get(info.id)!.message ?? '', /traffic through the Service/);
  t.throws(() => registry.add(spec({ clientSession: 's2', client: 'bob@laptop' })), { message: /held by alice@laptop/ });

  registry.release(info.id);
  t.deepEqual(a.bodies.at(-1)!.intercepts.map((i) => i.id), [info.id]);
  registry.agentReady(a, [info.id]);
  t.is(registry.get(info.id)!.state, 'ACTIVE');
});

test('after remove(), waitDropped resolves once every agent has confirmed a list without the intercept', async (t) => {
  const registry = new InterceptRegistry();
  const a = agent();
  const b = agent();
  registry.addAgent(a);
  registry.addAgent(b);
  const info = registry.add(spec());
  registry.agentReady(a, [info.id]);
  registry.agentReady(b, [info.id]);
  registry.remove(info.id, 'left');
  let dropped = false;
  const waiting = registry.waitDropped('default/Deployment/web', info.id, 5_000).then(() => { dropped = true; });
  registry.agentReady(a, []);
  await new Promise((resolve) => setImmediate(resolve));
  t.false(dropped, 'one agent still applies it');
  registry.agentReady(b, []);
  await waiting;
  t.true(dropped);
});

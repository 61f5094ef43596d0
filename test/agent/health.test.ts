import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { HealthListener, MAX_HEALTH_CONNECTIONS } from '../../src/agent/health.js';
import { startAgentRig } from './helpers/agent.js';
import { eventually } from './helpers/servers.js';

/** One request to the agent's health port: the status and body. */
function ask(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** An app that counts the connections it accepts. */
async function countingApp(t: { teardown(fn: () => void): void }): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    socket.on('error', () => undefined);
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

test('the agent answers GET /ready on its health port itself: no connection reaches the app', async (t) => {
  const app = await countingApp(t);
  const { agent } = await startAgentRig(t, [app.port], { healthPort: 0 });
  const port = agent.healthPort!;
  t.truthy(port);
  for (let i = 0; i < 5; i++) t.deepEqual(await ask(port, '/ready'), { status: 200, body: 'ready\n' });
  t.is((await ask(port, '/ready', 'HEAD')).status, 200);
  t.is(app.accepted(), 0, 'probes never reach the app');
  t.is((await ask(port, '/other')).status, 404);
  t.is((await ask(port, '/ready', 'POST')).status, 405);
});

test('readiness does not depend on the manager: with it gone the agent serves the app and stays ready', async (t) => {
  const app = await countingApp(t);
  const { agent, manager } = await startAgentRig(t, [app.port], { healthPort: 0 });
  await manager.stop();
  await eventually(() => agent.status().manager.state !== 'connected', 3000, 'the agent notices the manager left');
  t.is((await ask(agent.healthPort!, '/ready')).status, 200);
});

test('a closing agent is not ready, and its health port closes with it', async (t) => {
  const app = await countingApp(t);
  const { agent, agentPorts } = await startAgentRig(t, [app.port], { healthPort: 0 });
  const port = agent.healthPort!;
  // A connection held open keeps close() waiting for it, long enough to ask.
  const held = net.connect(agentPorts[0], '127.0.0.1');
  held.on('error', () => undefined);
  await new Promise((resolve) => held.once('connect', resolve));
  const closing = agent.close();
  t.is((await ask(port, '/ready')).status, 503);
  held.destroy();
  await closing;
  await t.throwsAsync(ask(port, '/ready'), { code: 'ECONNREFUSED' });
});

test('without a health port (an agent injected before it existed) none is opened', async (t) => {
  const app = await countingApp(t);
  const { agent } = await startAgentRig(t, [app.port]);
  t.is(agent.healthPort, null);
});

/** A health listener on 127.0.0.1 (always ready), closed after the test. */
async function healthPort(t: { teardown(fn: () => Promise<void>): void }, idleMs?: number): Promise<number> {
  const health = new HealthListener(() => true, { idleMs });
  t.teardown(() => health.close());
  return health.start(0, '127.0.0.1');
}

/** `count` connections that connect and then say nothing; each records whether the listener closed it. */
async function silent(t: { teardown(fn: () => void): void }, port: number, count: number): Promise<{ socket: net.Socket; closed: boolean }[]> {
  const open = await Promise.all(Array.from({ length: count }, () => new Promise<{ socket: net.Socket; closed: boolean }>((resolve, reject) => {
    const entry = { socket: net.connect(port, '127.0.0.1'), closed: false };
    entry.socket.on('error', () => undefined);
    entry.socket.on('close', () => (entry.closed = true));
    entry.socket.once('connect', () => resolve(entry)).once('error', reject);
  })));
  t.teardown(() => open.forEach((c) => c.socket.destroy()));
  return open;
}

test('connections that say nothing cannot starve the probe: past the old cap of 16 it is still answered', async (t) => {
  const port = await healthPort(t, 600_000);
  const idle = await silent(t, port, 64);
  t.deepEqual(await ask(port, '/ready'), { status: 200, body: 'ready\n' });
  t.is(idle.filter((c) => c.closed).length, 0, 'well under the cap, nobody is dropped');
});

test("at the cap a new connection (the kubelet's, asking at once) takes the place of the oldest one", async (t) => {
  // Deadlines far off, so only the cap closes anything here.
  const port = await healthPort(t, 600_000);
  const idle = await silent(t, port, MAX_HEALTH_CONNECTIONS);
  t.deepEqual(await ask(port, '/ready'), { status: 200, body: 'ready\n' });
  await eventually(() => idle[0].closed, 10_000, 'the oldest silent connection closed');
  t.is(idle.filter((c) => c.closed).length, 1, 'only the oldest made room');
});

test('silent and slow connections are closed within seconds, not at the next 30 s check', async (t) => {
  const port = await healthPort(t);
  const [quiet] = await silent(t, port, 1);
  const [slow] = await silent(t, port, 1);
  // Slowloris: a request head a byte at a time, never finished.
  slow.socket.write('GET /ready HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => slow.socket.write('x'), 300);
  t.teardown(() => clearInterval(drip));
  await eventually(() => quiet.closed && slow.closed, 15_000, 'both closed by the health listener');
  t.deepEqual(await ask(port, '/ready'), { status: 200, body: 'ready\n' });
});

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { promisify } from 'node:util';
import test from 'ava';
import WebSocket, { WebSocketServer } from 'ws';
import { startAgentRig } from './helpers/agent.js';
import type { TestIntercept } from './helpers/fake-manager.js';
import { exchange, get, startEchoServer, startNamedHttpServer } from './helpers/servers.js';

const run = promisify(execFile);

const personal = (id: string, laptopPort: number, extra: Partial<TestIntercept> = {}): TestIntercept => ({
  id,
  name: id,
  mode: 'personal',
  containerPort: 0,
  client: `${id}@laptop`,
  laptopPort,
  ...extra,
});

test('with no intercept, bytes of a non-HTTP protocol reach the app unchanged, both ways, with half-close', async (t) => {
  const app = await startEchoServer(t);
  const { agentPorts } = await startAgentRig(t, [app.port]);
  const payload = randomBytes(3 * 1024 * 1024 + 17);
  const echoed = await exchange(agentPorts[0], payload);
  t.true(echoed.equals(payload));
  t.true(Buffer.concat(app.received).equals(payload));
});

test('with no intercept, HTTP reaches the app with its headers untouched', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const { agentPorts } = await startAgentRig(t, [app.port]);
  const answer = await get(agentPorts[0], '/hello', { headers: { 'x-dev': 'alice' } });
  t.is(answer.servedBy, 'app');
  t.is(app.requests[0].headers['x-dev'], 'alice');
});

test('a global intercept sends every connection to the laptop and gives the manager the peer', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([{ id: 'g1', name: 'hello', mode: 'global', containerPort: app.port, client: 'alice@laptop', laptopPort: laptop.port }]);
  const first = await get(agentPorts[0], '/one');
  const second = await get(agentPorts[0], '/two', { headers: { 'x-dev': 'anyone' } });
  t.deepEqual([first.body, second.body], ['laptop GET /one\n', 'laptop GET /two\n']);
  t.is(app.requests.length, 0);
  t.is(manager.streams.length, 2);
  t.is(manager.streams[0].intercept, 'g1');
  t.is(manager.streams[0].peer, `127.0.0.1:${first.clientPort}`);
});

test('a global intercept of a raw TCP port carries bytes unchanged', async (t) => {
  const app = await startEchoServer(t);
  const laptop = await startEchoServer(t);
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([{ id: 'g1', name: 'raw', mode: 'global', containerPort: app.port, client: 'alice@laptop', laptopPort: laptop.port }]);
  const payload = randomBytes(1024 * 1024 + 3);
  t.true((await exchange(agentPorts[0], payload)).equals(payload));
  t.is(app.received.length, 0);
  t.true(Buffer.concat(laptop.received).equals(payload));
});

test('a personal intercept sends matching requests to the laptop and others to the app, on separate connections', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop-alice');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const matching = await get(agentPorts[0], '/a', { headers: { 'X-Dev': 'alice' } });
  const other = await get(agentPorts[0], '/b', { headers: { 'x-dev': 'bob' } });
  const plain = await get(agentPorts[0], '/c');
  t.deepEqual([matching.servedBy, other.servedBy, plain.servedBy], ['laptop-alice', 'app', 'app']);
  t.is(laptop.requests[0].headers['x-dev'], 'alice');
});

test('requests interleaved on one keep-alive connection each go to their own side', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop-alice');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const plan = [false, true, true, false, true, false, false, true];
  const answers = [];
  for (const [index, alice] of plan.entries()) {
    answers.push(await get(agentPorts[0], `/r${index}`, { agent, headers: alice ? { 'x-dev': 'alice' } : {} }));
  }
  t.deepEqual(answers.map((a) => a.servedBy), plan.map((alice) => (alice ? 'laptop-alice' : 'app')));
  t.deepEqual(answers.map((a) => a.body), plan.map((alice, i) => `${alice ? 'laptop-alice' : 'app'} GET /r${i}\n`));
  t.is(new Set(answers.map((a) => a.clientPort)).size, 1, 'every request rode one client connection');
  t.true(answers.slice(1).every((a) => a.reused));
  // Each side kept one upstream connection for that client connection.
  t.is(app.connections, 1);
  t.is(laptop.connections, 1);
});

test('curl with several URLs on one connection gets each from its own side', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop-alice');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const base = `http://127.0.0.1:${agentPorts[0]}`;
  const { stdout, stderr } = await run('curl', ['-sv', `${base}/1`, '--next', '-H', 'x-dev: alice', `${base}/2`, '--next', `${base}/3`, '--next', '-H', 'X-DEV: alice', `${base}/4`]);
  t.is(stdout, 'app GET /1\nlaptop-alice GET /2\napp GET /3\nlaptop-alice GET /4\n');
  t.is(stderr.match(/Connected to/g)?.length, 1, 'curl used one connection');
});

test('two personal intercepts with different headers each reach their own laptop', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const alice = await startNamedHttpServer(t, 'laptop-alice');
  const bob = await startNamedHttpServer(t, 'laptop-bob');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([
    personal('alice', alice.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } }),
    personal('bob', bob.port, { containerPort: app.port, headers: { 'x-dev': 'bob' } }),
  ]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const who = ['bob', 'alice', '', 'bob', 'alice'];
  const answers = [];
  for (const name of who) answers.push(await get(agentPorts[0], '/', { agent, headers: name ? { 'x-dev': name } : {} }));
  t.deepEqual(answers.map((a) => a.servedBy), ['laptop-bob', 'laptop-alice', 'app', 'laptop-bob', 'laptop-alice']);
});

test('a path prefix intercept takes only requests under that path', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('api', laptop.port, { containerPort: app.port, pathPrefix: '/api/' })]);
  t.is((await get(agentPorts[0], '/api/users')).servedBy, 'laptop');
  t.is((await get(agentPorts[0], '/apiary')).servedBy, 'app');
  t.is((await get(agentPorts[0], '/')).servedBy, 'app');
});

test('intercepts apply per port: another port of the same agent stays with the app', async (t) => {
  const web = await startNamedHttpServer(t, 'app-web');
  const admin = await startNamedHttpServer(t, 'app-admin');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { manager, agentPorts } = await startAgentRig(t, [web.port, admin.port]);
  await manager.setIntercepts([{ id: 'g1', name: 'web', mode: 'global', containerPort: web.port, client: 'a@l', laptopPort: laptop.port }]);
  t.is((await get(agentPorts[0], '/')).servedBy, 'laptop');
  t.is((await get(agentPorts[1], '/')).servedBy, 'app-admin');
});

test('a WebSocket upgrade follows the decision for its first request', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  for (const side of [app, laptop]) {
    const wss = new WebSocketServer({ server: (side as typeof side & { server: http.Server }).server });
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`${side.name}:${String(data)}`)));
    t.teardown(() => wss.close());
  }
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const talk = (headers: Record<string, string>): Promise<string> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${agentPorts[0]}/ws`, { headers });
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (data) => {
        resolve(String(data));
        ws.close();
      });
      ws.on('error', reject);
    });
  t.is(await talk({ 'x-dev': 'alice' }), 'laptop:ping');
  t.is(await talk({}), 'app:ping');
});

test('a personal intercept whose stream is refused fails open: the request reaches the app', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  // Port 1 (tcpmux), where nothing listens: the manager's dial is refused. A port freed by closing
  // a test server is not safe: tests run in parallel and the kernel may hand it to another's server.
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', 1, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const answer = await get(agentPorts[0], '/', { headers: { 'x-dev': 'alice' } });
  t.is(answer.status, 200);
  t.is(answer.servedBy, 'app');
  t.is(manager.streams.length, 1, 'the agent did ask for the stream');
});

test('a request the agent cannot parse gets 400 and the agent lives on', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const reply = await exchange(agentPorts[0], Buffer.from('HELLO? this is not HTTP\r\n\r\n'));
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 400 /);
  t.is((await get(agentPorts[0], '/', { headers: { 'x-dev': 'alice' } })).servedBy, 'laptop');
});

test('request bodies reach the side the request was routed to, interleaved on one connection', async (t) => {
  const sides = new Map<string, string[]>();
  const startEcho = async (name: string): Promise<number> => {
    sides.set(name, []);
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        sides.get(name)!.push(body);
        response.end(`${name}:${body.length}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    return (server.address() as import('node:net').AddressInfo).port;
  };
  const appPort = await startEcho('app');
  const laptopPort = await startEcho('laptop');
  const { manager, agentPorts } = await startAgentRig(t, [appPort]);
  await manager.setIntercepts([personal('alice', laptopPort, { containerPort: appPort, headers: { 'x-dev': 'alice' } })]);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  const post = (alice: boolean, body: string, chunked: boolean): Promise<string> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = alice ? { 'x-dev': 'alice' } : {};
      if (!chunked) headers['content-length'] = String(Buffer.byteLength(body));
      const request = http.request({ host: '127.0.0.1', port: agentPorts[0], method: 'POST', path: '/upload', agent: keepAlive, headers }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += String(chunk)));
        response.on('end', () => resolve(text));
      });
      request.on('error', reject);
      if (chunked) for (const part of body.match(/.{1,1000}/gs) ?? []) request.write(part);
      else request.write(body);
      request.end();
    });
  const big = 'x'.repeat(200_000);
  t.is(await post(true, big, true), `laptop:${big.length}`);
  t.is(await post(false, 'hello', false), 'app:5');
  t.is(await post(true, 'abc', false), 'laptop:3');
  t.is(await post(false, big, true), `app:${big.length}`);
  t.deepEqual(sides.get('laptop'), [big, 'abc']);
  t.deepEqual(sides.get('app'), ['hello', big]);
});

test('on a port with personal intercepts, h2c prior knowledge and non-HTTP bytes reach the app unrouted', async (t) => {
  const app = await startEchoServer(t);
  const laptop = await startEchoServer(t);
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const h2 = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), randomBytes(5000)]);
  t.true((await exchange(agentPorts[0], h2)).equals(h2));
  const tls = Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), randomBytes(4000)]);
  t.true((await exchange(agentPorts[0], tls)).equals(tls));
  t.is(laptop.received.length, 0);
  t.is(manager.streams.length, 0);
});

// Found by the fuzzer (test/fuzz/corpus/agent-http/utf8-header-rebuilt): the rebuilt head of an
// upgrade was written as UTF-8, so a header byte above 0x7f reached the app encoded twice.
test('an upgrade request reaches its side byte for byte, non-ASCII header bytes included', async (t) => {
  const app = await startEchoServer(t);
  const laptop = await startEchoServer(t);
  const { manager, agentPorts } = await startAgentRig(t, [app.port]);
  await manager.setIntercepts([personal('alice', laptop.port, { containerPort: app.port, headers: { 'x-dev': 'alice' } })]);
  const request = Buffer.from('GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: tp-test\r\nX-Name: café ✓\r\n\r\nafter the head');
  t.true((await exchange(agentPorts[0], request)).equals(request));
  t.is(laptop.received.length, 0);
});

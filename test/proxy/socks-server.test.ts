import test, { type ExecutionContext } from 'ava';
import { connect, type Socket } from 'node:net';
import type { OwnerGate } from '../../src/proxy/owner-gate.js';
import { SocksServer } from '../../src/proxy/socks-server.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { encodeGreeting, encodeRequest, SOCKS_COMMAND } from '../../src/proxy/socks5-protocol.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { closedPort, clusterDial, rawExchange, startLabelledServer, type RecordedDial } from './helpers.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'] });

async function startSocks(t: ExecutionContext, dial: RecordedDial): Promise<number> {
  const server = new SocksServer({ route: (target) => decideRoute(target, table), dial: dial.dial, handshakeTimeoutMs: 2_000 });
  t.teardown(() => server.destroy());
  const address = await server.listen();
  t.is(address.address, '127.0.0.1');
  return address.port;
}

async function curl(args: string[]): Promise<string> {
  const { stdout } = await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', ...args]);
  return stdout;
}

test('curl --socks5-hostname reaches a cluster name through the cluster dial', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  const body = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web.team-a:8080/hello']);
  t.is(body, 'cluster GET web.team-a:8080/hello\n');
  t.deepEqual(dial.calls.map((call) => [call.target, call.context.via, call.context.protocol]), [
    [{ host: 'web.team-a', port: 8080 }, 'cluster', 'socks'],
  ]);
  t.regex(dial.calls[0].context.client, /^127\.0\.0\.1:\d+$/);
});

test('curl --socks5 sends an IPv4 address, which goes direct when outside the cluster CIDRs', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const direct = await startLabelledServer(t, 'direct');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  const body = await curl(['--socks5', `127.0.0.1:${port}`, `http://127.0.0.1:${direct.port}/x`]);
  t.is(body, `direct GET 127.0.0.1:${direct.port}/x\n`);
  t.is(dial.calls[0].context.via, 'direct');
});

test('an IPv4 address in a service CIDR goes through the cluster dial', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  const body = await curl(['--socks5', `127.0.0.1:${port}`, 'http://10.96.0.20/svc']);
  t.is(body, 'cluster GET 10.96.0.20/svc\n');
  t.deepEqual(dial.calls[0].target, { host: '10.96.0.20', port: 80 });
});

test('IPv6 destinations arrive intact: ::1 direct, a service IPv6 through the cluster', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const direct6 = await startLabelledServer(t, 'direct6', '::1');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  const local = await curl(['--socks5', `127.0.0.1:${port}`, `http://[::1]:${direct6.port}/six`]);
  t.is(local, `direct6 GET [::1]:${direct6.port}/six\n`);
  const remote = await curl(['--socks5', `127.0.0.1:${port}`, 'http://[fd00:10:96::a]:81/six']);
  t.is(remote, 'cluster GET [fd00:10:96::a]:81/six\n');
  t.deepEqual(dial.calls.map((call) => [call.target.host, call.context.via]), [
    ['0:0:0:0:0:0:0:1', 'direct'],
    ['fd00:10:96:0:0:0:0:a', 'cluster'],
  ]);
});

test('a refused destination gets SOCKS reply 0x05 and curl reports the refusal', async (t) => {
  const dial = clusterDial(await closedPort());
  const port = await startSocks(t, dial);
  const deadPort = await closedPort();
  const reply = await rawExchange(port, [
    encodeGreeting([0x00]),
    encodeRequest(SOCKS_COMMAND.CONNECT, '127.0.0.1', deadPort),
  ]);
  t.deepEqual(Array.from(reply.subarray(0, 4)), [0x05, 0x00, 0x05, 0x05]);
  t.is(reply.length, 2 + 10, 'a full RFC 1928 reply follows the method choice');
  const error = await t.throwsAsync(curl(['--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${deadPort}/`]));
  // curl names the SOCKS reply code: 5 is "connection refused".
  t.regex(String((error as { stderr?: string }).stderr), /SOCKS5 connection to localhost\. \(5\)/);
});

test('BIND and UDP ASSOCIATE are refused with reply 0x07', async (t) => {
  const port = await startSocks(t, clusterDial(await closedPort()));
  for (const command of [SOCKS_COMMAND.BIND, SOCKS_COMMAND.UDP_ASSOCIATE]) {
    const reply = await rawExchange(port, [encodeGreeting([0x00]), encodeRequest(command, '10.0.0.1', 80)]);
    t.deepEqual(Array.from(reply.subarray(0, 4)), [0x05, 0x00, 0x05, 0x07]);
  }
});

test('malformed bytes close that client, and the server keeps serving curl', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startSocks(t, clusterDial(cluster.port));
  // SOCKS4 instead of 5: closed without a reply (RFC 1928 has none for a wrong version).
  t.is((await rawExchange(port, [Buffer.from([0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4, 0])])).length, 0);
  // An empty method list.
  t.is((await rawExchange(port, [Buffer.from([0x05, 0x00])])).length, 0);
  // An unknown address type: reply 0x08.
  const badType = await rawExchange(port, [encodeGreeting([0x00]), Buffer.from([0x05, 0x01, 0x00, 0x09, 1, 2])]);
  t.deepEqual(Array.from(badType.subarray(0, 4)), [0x05, 0x00, 0x05, 0x08]);
  // Only username/password offered: "no acceptable methods".
  t.deepEqual(Array.from(await rawExchange(port, [encodeGreeting([0x02])])), [0x05, 0xff]);
  // A client that stops mid-request is dropped after the handshake timeout.
  t.deepEqual(Array.from(await rawExchange(port, [encodeGreeting([0x00]), Buffer.from([0x05, 0x01])])), [0x05, 0x00]);
  const body = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web/after']);
  t.is(body, 'cluster GET web/after\n');
});

test('a greeting and request split into single bytes still connect', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startSocks(t, clusterDial(cluster.port));
  const socket = connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  const bytes = Buffer.concat([encodeGreeting([0x00]), encodeRequest(SOCKS_COMMAND.CONNECT, 'web', 80)]);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  for (const byte of bytes) {
    socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  socket.write('GET /bytes HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
  const all = Buffer.concat(received);
  t.deepEqual(Array.from(all.subarray(0, 4)), [0x05, 0x00, 0x05, 0x00]);
  t.regex(all.subarray(12).toString(), /cluster GET web\/bytes/);
});

test('close() and destroy() are idempotent and close() waits for open tunnels', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const server = new SocksServer({ route: (target) => decideRoute(target, table), dial: clusterDial(cluster.port).dial, closeTimeoutMs: 200 });
  const { port } = await server.listen();
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.write(Buffer.concat([encodeGreeting([0x00]), encodeRequest(SOCKS_COMMAND.CONNECT, 'web', 80)]));
  await new Promise((resolve) => socket.once('data', resolve));
  const socketClosed = new Promise((resolve) => socket.once('close', resolve));
  await Promise.all([server.close(), server.close(), server.destroy()]);
  await socketClosed;
  t.true(socket.destroyed);
  await server.close();
});

/** What a client socket has received, awaited by length; resolves short when the socket closes first. */
function receiver(socket: Socket): (length: number) => Promise<number[]> {
  let received = Buffer.alloc(0);
  let closed = false;
  const waiters: (() => void)[] = [];
  const wake = (): void => void waiters.splice(0).forEach((waiter) => waiter());
  socket.on('data', (chunk: Buffer) => ((received = Buffer.concat([received, chunk])), wake()));
  socket.on('close', () => ((closed = true), wake()));
  socket.on('error', () => undefined);
  return async (length) => {
    while (received.length < length && !closed) await new Promise<void>((resolve) => waiters.push(resolve));
    const taken = Array.from(received.subarray(0, length));
    received = received.subarray(taken.length);
    return taken;
  };
}

test('the owner check does not hold back the method choice; a refused caller gets 0x02 and nothing is dialled', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  // The verdicts are given by hand, after the client has seen the method choice: with the check on
  // the critical path the choice would never come, and the handshake deadline would close the client.
  const verdicts: ((admit: boolean) => void)[] = [];
  const gate: OwnerGate = { admitsConnection: () => new Promise((resolve) => verdicts.push(resolve)), admitsDatagram: async () => false };
  const server = new SocksServer({ route: (target) => decideRoute(target, table), dial: dial.dial, gate, handshakeTimeoutMs: 2_000 });
  t.teardown(() => server.destroy());
  const { port } = await server.listen();
  for (const admit of [false, true]) {
    const socket = connect({ host: '127.0.0.1', port });
    t.teardown(() => socket.destroy());
    const read = receiver(socket);
    socket.write(encodeGreeting([0x00]));
    t.deepEqual(await read(2), [0x05, 0x00]);
    t.is(verdicts.length, 1);
    socket.write(encodeRequest(SOCKS_COMMAND.CONNECT, 'web', 80));
    verdicts.shift()!(admit);
    const reply = await read(10);
    if (!admit) {
      t.deepEqual(reply.slice(0, 2), [0x05, 0x02]);
      t.is(dial.calls.length, 0);
      t.is(cluster.requests.length, 0);
      continue;
    }
    t.deepEqual(reply.slice(0, 2), [0x05, 0x00]);
    t.is(dial.calls.length, 1);
    socket.end('GET /owner HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n');
    const answer = Buffer.from(await read(1 << 16)).toString();
    t.regex(answer, /cluster GET web\/owner/);
  }
});

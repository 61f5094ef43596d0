import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import WebSocket from 'ws';
import { tokenAuthenticator } from '../../src/tunnel/auth.js';
import type { Session } from '../../src/tunnel/session.js';
import { connectTunnel } from '../../src/tunnel/ws-client.js';
import { TunnelServer } from '../../src/tunnel/ws-server.js';
import { captureLogs } from '../helpers/capture-logs.js';
import { acceptEcho, once, readAll } from './helpers.js';

const TOKEN = 'correct-horse-battery-staple';

async function startServer(t: import('ava').ExecutionContext, options: Partial<import('../../src/tunnel/ws-server.js').TunnelServerOptions<string>> = {}) {
  const server = await TunnelServer.listen({ authenticate: tokenAuthenticator(TOKEN, 'laptop-1'), ...options });
  t.teardown(() => server.destroy());
  const sessions: Array<{ session: Session; identity: string }> = [];
  server.on('session', (session, identity) => {
    sessions.push({ session, identity });
    acceptEcho(session);
  });
  return { server, sessions };
}

function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port,
      path: '/tunnel',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

test('the right bearer token gets a session that carries streams', async (t) => {
  const { server, sessions } = await startServer(t);
  const client = await connectTunnel(server.url, { token: TOKEN });
  t.teardown(() => client.destroy());
  const stream = await client.open({ host: 'h', port: 1 });
  stream.end('hello through ws');
  t.is((await readAll(stream)).toString(), 'hello through ws');
  t.is(sessions[0].identity, 'laptop-1');
  t.is(await upgradeStatus(server.port, { authorization: `Bearer ${TOKEN}` }), 101);
});

test('a wrong token is refused with 401 before any session exists', async (t) => {
  const { server, sessions } = await startServer(t);
  await t.throwsAsync(connectTunnel(server.url, { token: 'wrong' }), { code: 'TP_ERR_TUNNEL_UNAUTHORIZED' });
  t.is(await upgradeStatus(server.port, { authorization: 'Bearer wrong' }), 401);
  t.is(await upgradeStatus(server.port, { authorization: `Bearer ${TOKEN}x` }), 401);
  t.is(await upgradeStatus(server.port, { authorization: `Basic ${TOKEN}` }), 401);
  t.is(sessions.length, 0);
});

test('a missing token is refused with 401', async (t) => {
  const { server, sessions } = await startServer(t);
  await t.throwsAsync(connectTunnel(server.url), { code: 'TP_ERR_TUNNEL_UNAUTHORIZED' });
  t.is(await upgradeStatus(server.port, {}), 401);
  t.is(sessions.length, 0);
});

test('an async authenticate hook decides the identity; a failing hook answers 500', async (t) => {
  const server = await TunnelServer.listen<string>({
    authenticate: async (token) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (token === 'boom') throw new Error('credential store down');
      return token.startsWith('user-') ? token.slice(5) : null;
    },
  });
  t.teardown(() => server.destroy());
  const identity = new Promise<string>((resolve) => server.once('session', (_s, id) => resolve(id)));
  const client = await connectTunnel(server.url, { token: 'user-alice' });
  t.teardown(() => client.destroy());
  t.is(await identity, 'alice');
  t.is(await upgradeStatus(server.port, { authorization: 'Bearer boom' }), 500);
  t.is(await upgradeStatus(server.port, { authorization: 'Bearer bob' }), 401);
});

test('plain HTTP gets 426 and other paths 404', async (t) => {
  const { server } = await startServer(t);
  const response = await fetch(`http://127.0.0.1:${server.port}/tunnel`);
  t.is(response.status, 426);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/elsewhere`, { headers: { authorization: `Bearer ${TOKEN}` } });
  ws.on('error', () => {});
  const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  ws.terminate();
  t.is(status, 404);
});

test('a peer breaking the protocol loses only its own session', async (t) => {
  const { server, sessions } = await startServer(t);
  const good = await connectTunnel(server.url, { token: TOKEN });
  t.teardown(() => good.destroy());
  const rogue = new WebSocket(server.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.teardown(() => rogue.terminate());
  await new Promise((resolve) => rogue.once('open', resolve));
  const closeCode = new Promise<number>((resolve) => rogue.once('close', (code) => resolve(code)));
  rogue.send(Buffer.from('\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\xff garbage'));
  t.is(await closeCode, 1002);
  t.is(sessions.length, 2);
  const rogueSession = sessions.find((s) => s.session.closed);
  t.truthy(rogueSession);
  const stream = await good.open({ host: 'h', port: 1 });
  stream.end('still alive');
  t.is((await readAll(stream)).toString(), 'still alive');
});

test('wss:// works with the caller-given CA and fails without it', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tp-tunnel-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const { server } = await startServer(t, { tls: { cert: await readFile(cert), key: await readFile(key) } });
  t.regex(server.url, /^wss:\/\//);
  await t.throwsAsync(connectTunnel(server.url, { token: TOKEN }), { code: 'TP_ERR_TUNNEL_CONNECT' });
  const client = await connectTunnel(server.url, { token: TOKEN, ca: await readFile(cert) });
  t.teardown(() => client.destroy());
  const stream = await client.open({ host: 'h', port: 1 });
  stream.end('over tls');
  t.is((await readAll(stream)).toString(), 'over tls');
});

test('the client can run the WebSocket over a socket the caller provides', async (t) => {
  const { server } = await startServer(t);
  let dialled = 0;
  const client = await connectTunnel('ws://manager.invalid/tunnel', {
    token: TOKEN,
    createConnection: () => {
      dialled++;
      return net.connect({ host: '127.0.0.1', port: server.port });
    },
  });
  t.teardown(() => client.destroy());
  t.is(dialled, 1);
  const stream = await client.open({ host: 'h', port: 1 });
  stream.end('via port-forward');
  t.is((await readAll(stream)).toString(), 'via port-forward');
});

/** A tunnel client whose socket records the byte count of each write it makes (one per writev of corked chunks). */
async function countingClient(port: number): Promise<{ client: Session; writes: number[] }> {
  const writes: number[] = [];
  const client = await connectTunnel('ws://manager.invalid/tunnel', {
    token: TOKEN,
    createConnection: () => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const writev = socket._writev?.bind(socket);
      const write = socket._write.bind(socket);
      socket._writev = (chunks, callback) => {
        writes.push(chunks.reduce((sum, { chunk }) => sum + (chunk as Buffer).length, 0));
        writev!(chunks, callback);
      };
      socket._write = (chunk: Buffer, encoding, callback) => {
        writes.push(chunk.length);
        write(chunk, encoding, callback);
      };
      return socket;
    },
  });
  return { client, writes };
}

test('a large DATA frame leaves the client in one socket write: its header and payload messages are not written apart', async (t) => {
  const { server } = await startServer(t);
  const { client, writes } = await countingClient(server.port);
  t.teardown(() => client.destroy());
  const stream = await client.open({ host: 'h', port: 1 });
  const payload = Buffer.alloc(64 * 1024, 7);
  writes.length = 0;
  stream.end(payload);
  t.deepEqual(await readAll(stream), payload);
  // The first write after end(): the header's message (WebSocket header, 9-byte frame header) and
  // the payload's (WebSocket header, payload) together; written apart, it would be the 15 header
  // bytes alone. (The FIN follows in a write of its own.)
  t.true(writes[0] > payload.length + 9, `writes: ${writes.join(', ')}`);
});

test('frames queued by separate tasks of one event-loop turn leave in one socket write', async (t) => {
  const { server } = await startServer(t);
  const { client, writes } = await countingClient(server.port);
  t.teardown(() => client.destroy());
  const streams = [await client.open({ host: 'h', port: 1 }), await client.open({ host: 'h', port: 2 })];
  // Teardowns run last-registered first: the streams go before the session, which would fail them.
  t.teardown(() => streams.forEach((stream) => stream.destroy()));
  const echoes = streams.map((stream) => once<Buffer>(stream, 'data'));
  writes.length = 0;
  // Two tasks of one turn, as when two proxied sockets are readable in the same poll: each
  // writes to its own stream. Both DATA frames go in one WebSocket message, one write.
  setImmediate(() => streams[0].write('first'));
  setImmediate(() => streams[1].write('second'));
  t.deepEqual((await Promise.all(echoes)).map(String), ['first', 'second']);
  // One client message: a 6-byte WebSocket header (with its all-zero mask), two 9-byte frame headers, the bytes.
  t.deepEqual(writes, [6 + 2 * 9 + 'first'.length + 'second'.length]);
});

test('server close drains sessions and the client sees go-away', async (t) => {
  const { server } = await startServer(t);
  const client = await connectTunnel(server.url, { token: TOKEN });
  const clientClosed = new Promise((resolve) => client.once('close', resolve));
  const goaway = new Promise((resolve) => client.once('goaway', resolve));
  await server.close();
  await goaway;
  await clientClosed;
  t.true(client.closed);
});

test('tokens never reach the logs, accepted or refused', async (t) => {
  const lines = captureLogs(t);
  const { server } = await startServer(t);
  await t.throwsAsync(connectTunnel(server.url, { token: 'wrong-secret-value' }));
  const client = await connectTunnel(server.url, { token: TOKEN });
  const stream = await client.open({ host: 'h', port: 1 });
  stream.end('x');
  await readAll(stream);
  client.destroy();
  t.true(lines.length > 3, 'logging was on');
  t.false(lines.some((line) => line.includes(TOKEN) || line.includes('wrong-secret-value')));
});

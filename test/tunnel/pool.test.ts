import test from 'ava';
import { tokenAuthenticator } from '../../src/tunnel/auth.js';
import { SessionPool } from '../../src/tunnel/pool.js';
import type { Session } from '../../src/tunnel/session.js';
import type { TunnelStream } from '../../src/tunnel/stream.js';
import { connectTunnel } from '../../src/tunnel/ws-client.js';
import { TunnelServer } from '../../src/tunnel/ws-server.js';
import { readAll } from './helpers.js';

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function setup(t: import('ava').ExecutionContext, size: number) {
  const server = await TunnelServer.listen({ authenticate: tokenAuthenticator('pool-token', 'pool') });
  t.teardown(() => server.destroy());
  const serverSessions: Session[] = [];
  server.on('session', (session) => {
    serverSessions.push(session);
    session.on('stream', (open) => {
      const stream = open.accept();
      stream.on('error', () => {});
      stream.pipe(stream);
    });
  });
  let connects = 0;
  const pool = new SessionPool({
    size,
    retryDelayMs: 50,
    connect: () => {
      connects++;
      return connectTunnel(server.url, { token: 'pool-token' });
    },
  });
  t.teardown(() => pool.destroy());
  return { server, serverSessions, pool, connects: () => connects };
}

test('open() spreads streams over the least-loaded sessions', async (t) => {
  const { pool } = await setup(t, 3);
  await pool.start();
  await until(() => pool.liveSessions.length === 3);
  const streams: TunnelStream[] = [];
  for (let i = 0; i < 9; i++) streams.push(await pool.open({ host: 'h', port: i + 1 }));
  const counts = pool.liveSessions.map((session) => session.openStreamCount).sort();
  t.deepEqual(counts, [3, 3, 3]);
  for (const stream of streams) stream.end('x');
  for (const stream of streams) t.is((await readAll(stream)).toString(), 'x');
});

test('a dead session is replaced and new streams go to live ones', async (t) => {
  const { pool, serverSessions, connects } = await setup(t, 2);
  await pool.start();
  await until(() => pool.liveSessions.length === 2);
  t.is(pool.liveSessions.length, 2);
  serverSessions[0].destroy();
  await until(() => connects() === 3 && pool.liveSessions.length === 2);
  t.is(pool.liveSessions.length, 2);
  t.is(connects(), 3);
  const stream = await pool.open({ host: 'h', port: 1 });
  stream.end('after replacement');
  t.is((await readAll(stream)).toString(), 'after replacement');
  t.is(await pool.liveSessions[0].request('nope', null).catch((e: Error & { code?: string }) => e.code), 'TUNNEL_ERR_RPC_FAILED');
});

test('a pool that cannot connect fails with a code instead of hanging', async (t) => {
  const pool = new SessionPool({ size: 2, connect: () => connectTunnel('ws://127.0.0.1:1/tunnel', { token: 'x' }) });
  t.teardown(() => pool.destroy());
  await t.throwsAsync(pool.open({ host: 'h', port: 1 }), { code: 'TUNNEL_ERR_NO_SESSION' });
});

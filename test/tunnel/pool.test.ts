import test from 'ava';
import { tokenAuthenticator } from '../../src/tunnel/auth.js';
import { SessionPool } from '../../src/tunnel/pool.js';
import { QUIET_TRAFFIC_BYTES } from '../../src/tunnel/traffic-meter.js';
import type { TunnelError } from '../../src/tunnel/errors.js';
import type { Session } from '../../src/tunnel/session.js';
import type { TunnelStream } from '../../src/tunnel/stream.js';
import { connectTunnel } from '../../src/tunnel/ws-client.js';
import { TunnelServer } from '../../src/tunnel/ws-server.js';
import { acceptEcho, memorySessions, readAll, type PairOptions } from './helpers.js';

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
  t.is(await pool.liveSessions[0].request('nope', null).catch((e: Error & { code?: string }) => e.code), 'TP_ERR_TUNNEL_RPC_FAILED');
});

test('a pool that cannot connect fails with a code instead of hanging', async (t) => {
  const pool = new SessionPool({ size: 2, connect: () => connectTunnel('ws://127.0.0.1:1/tunnel', { token: 'x' }) });
  t.teardown(() => pool.destroy());
  await t.throwsAsync(pool.open({ host: 'h', port: 1 }), { code: 'TP_ERR_TUNNEL_NO_SESSION' });
});

/** A pool over in-memory session pairs whose far ends echo; `servers` are those far ends. */
function memoryPool(t: import('ava').ExecutionContext, poolOptions: Omit<import('../../src/tunnel/pool.js').SessionPoolOptions, 'connect'>, sessionOptions: PairOptions, serverSide: (server: Session) => void = acceptEcho) {
  const servers: Session[] = [];
  const pool = new SessionPool({
    ...poolOptions,
    connect: () => {
      const { client, server } = memorySessions(sessionOptions);
      serverSide(server);
      servers.push(server);
      return Promise.resolve(client);
    },
  });
  t.teardown(() => pool.destroy());
  return { pool, servers, openServers: () => servers.filter((server) => !server.closed).length };
}

async function echoes(stream: TunnelStream, text: string): Promise<string> {
  const received = readAll(stream);
  stream.end(text);
  return (await received).toString();
}

test('the pool connects more sessions when the live ones near their stream limit, up to maxSessions', async (t) => {
  const { pool, openServers } = memoryPool(t, { size: 2, maxSessions: 6, growAt: 0.75 }, { maxStreams: 4 });
  await pool.start();
  const streams = await Promise.all(Array.from({ length: 20 }, (_, i) => openQuiet(pool, i + 1)));
  t.is(pool.openStreamCount, 20);
  t.true(pool.liveSessions.length >= 5, `${pool.liveSessions.length} sessions for 20 streams of at most 4 each`);
  t.true(pool.liveSessions.length <= 6);
  t.true(pool.liveSessions.every((session) => session.openStreamCount <= 4));
  t.is(openServers(), pool.liveSessions.length);
  const answers = await Promise.all(streams.map((stream, i) => echoes(stream, `stream ${i}`)));
  t.deepEqual(answers, streams.map((_, i) => `stream ${i}`));
});

test('when every session is full and no more may be connected, open() fails with the limit code and says why', async (t) => {
  const { pool } = memoryPool(t, { size: 1, maxSessions: 2 }, { maxStreams: 3 });
  await pool.start();
  const streams = await Promise.all(Array.from({ length: 6 }, (_, i) => openQuiet(pool, i + 1)));
  t.is(pool.liveSessions.length, 2);
  const error = await t.throwsAsync(pool.open({ host: 'h', port: 99 }), { code: 'TP_ERR_TUNNEL_LIMIT', message: /all 2 tunnel sessions are full \(6 streams of 6; at most 2 sessions\)/ });
  t.is((error as TunnelError).reason, 'limit');
  // A stream that ends makes room again.
  t.is(await echoes(streams[0], 'x'), 'x');
  await until(() => pool.openStreamCount === 5);
  t.is(await echoes(await openQuiet(pool, 100), 'room again'), 'room again');
});

test('maxStreams caps the streams of all sessions together', async (t) => {
  const { pool } = memoryPool(t, { size: 2, maxSessions: 8, maxStreams: 5 }, { maxStreams: 100 });
  await pool.start();
  await Promise.all(Array.from({ length: 5 }, (_, i) => openQuiet(pool, i + 1)));
  const error = await t.throwsAsync(pool.open({ host: 'h', port: 6 }), { code: 'TP_ERR_TUNNEL_LIMIT', message: /5 streams are open, the most this pool allows \(5\)/ });
  t.is((error as TunnelError).reason, 'limit');
});

test('extra sessions are retired once the load fits in fewer, and closed after their last stream ends; never below the base size', async (t) => {
  const { pool, openServers } = memoryPool(t, { size: 1, maxSessions: 3, growAt: 1, idleCloseMs: 50 }, { maxStreams: 4 });
  await pool.start();
  // One after another, so streams 0-3 share the first session, 4-7 the second, 8-11 the third.
  const streams: TunnelStream[] = [];
  for (let i = 0; i < 12; i++) streams.push(await openQuiet(pool, i + 1));
  t.is(openServers(), 3);
  const kept = [streams[0], streams[4]];
  await Promise.all(streams.filter((stream) => !kept.includes(stream)).map((stream, i) => echoes(stream, `s${i}`)));
  // Two streams fit in one session: the idle third closes, and so does the second once its stream ends.
  await until(() => openServers() === 2, 10_000);
  t.is(openServers(), 2);
  t.deepEqual(await Promise.all(kept.map((stream, i) => echoes(stream, `kept ${i}`))), ['kept 0', 'kept 1']);
  await until(() => openServers() === 1, 10_000);
  t.is(openServers(), 1);
  t.is(pool.liveSessions.length, 1);
  // The pool grows again when asked to.
  await Promise.all(Array.from({ length: 10 }, (_, i) => openQuiet(pool, i + 1)));
  t.is(pool.liveSessions.length, 3);
});

test('opens wait for a free pending slot instead of failing when many are in flight', async (t) => {
  const answerLater = (server: Session): void => {
    server.on('stream', (open) => {
      setTimeout(() => {
        const stream = open.accept();
        stream.on('error', () => {});
        stream.pipe(stream);
      }, 20);
    });
  };
  const { pool } = memoryPool(t, { size: 1, maxSessions: 1 }, { maxStreams: 50, maxPendingOpens: 2 }, answerLater);
  await pool.start();
  const streams = await Promise.all(Array.from({ length: 10 }, (_, i) => openQuiet(pool, i + 1)));
  t.is(streams.length, 10);
  t.is(pool.liveSessions.length, 1);
  t.deepEqual(await Promise.all(streams.map((stream, i) => echoes(stream, `p${i}`))), streams.map((_, i) => `p${i}`));
});

/** Opens a stream whose teardown-time errors (the pool destroyed under it) are expected. */
async function openQuiet(pool: SessionPool, port: number): Promise<TunnelStream> {
  const stream = await pool.open({ host: 'h', port });
  stream.on('error', () => {});
  return stream;
}

test('when a full pool cannot connect another session, open() says why and does not blame the limit', async (t) => {
  let connects = 0;
  const pool = new SessionPool({
    size: 1,
    maxSessions: 4,
    connect: () => {
      if (++connects > 1) return Promise.reject(new Error('the manager is gone'));
      const { client, server } = memorySessions({ maxStreams: 2 });
      acceptEcho(server);
      return Promise.resolve(client);
    },
  });
  t.teardown(() => pool.destroy());
  await pool.start();
  await Promise.all([openQuiet(pool, 1), openQuiet(pool, 2)]);
  const error = await t.throwsAsync(pool.open({ host: 'h', port: 3 }), { code: 'TP_ERR_TUNNEL_LIMIT', message: /connecting another failed: the manager is gone/ });
  t.is((error as TunnelError).reason, 'unreachable');
  // One failed try to grow, not a reconnect loop: the next try waits for the retry delay.
  t.is(connects, 2);
  await t.throwsAsync(pool.open({ host: 'h', port: 4 }), { code: 'TP_ERR_TUNNEL_LIMIT' });
  t.is(connects, 2);
});

test('a stream opened while a bulk transfer runs goes to a quiet session, even one with more streams', async (t) => {
  const { pool } = memoryPool(t, { size: 2, maxSessions: 2 }, {});
  await pool.start();
  await until(() => pool.liveSessions.length === 2);
  // Three idle streams spread 2 + 1 (fewest streams first while every session is quiet).
  const idle = [await openQuiet(pool, 1), await openQuiet(pool, 2), await openQuiet(pool, 3)];
  t.deepEqual(pool.liveSessions.map((session) => session.openStreamCount).sort(), [1, 2]);
  const lone = pool.liveSessions.find((session) => session.openStreamCount === 1)!;
  const bulk = idle.find((stream) => streamOn(pool, stream) === lone)!;
  // A transfer through the lone session's stream, kept going until the new stream is placed.
  let sending = true;
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const pump = (): void => {
    while (sending && bulk.write(chunk));
    if (sending) bulk.once('drain', pump);
  };
  bulk.on('data', () => {});
  pump();
  await until(() => lone.recentTraffic >= QUIET_TRAFFIC_BYTES);
  t.true(lone.recentTraffic >= QUIET_TRAFFIC_BYTES, 'the bulk transfer shows in its session\'s traffic');
  const interactive = await openQuiet(pool, 4);
  sending = false;
  t.not(streamOn(pool, interactive), lone, 'the new stream avoids the session carrying the transfer');
  t.is(lone.openStreamCount, 1);
  t.is(await echoes(interactive, 'small'), 'small');
});

/** The pool's session a stream of it runs on. */
function streamOn(pool: SessionPool, stream: TunnelStream): Session | undefined {
  return pool.liveSessions.find((session) => session.hasStream(stream));
}

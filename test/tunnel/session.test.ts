import test from 'ava';
import { encodeFrame } from '../../src/tunnel/frame-encoder.js';
import { FrameDecoder } from '../../src/tunnel/frame-decoder.js';
import type { Frame } from '../../src/tunnel/frame.js';
import { RemoteCallError } from '../../src/tunnel/errors.js';
import { createMemoryTransportPair } from '../../src/tunnel/memory-transport.js';
import { PROTOCOL_VERSION } from '../../src/tunnel/protocol.js';
import { Session } from '../../src/tunnel/session.js';
import type { Transport } from '../../src/tunnel/transport.js';
import { acceptEcho, memorySessions, once, readAll, until } from './helpers.js';

test('a stream echoes data and both half-closes are seen as end', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  acceptEcho(server);
  const stream = await client.open({ host: 'echo', port: 7, metadata: { who: 'test' } });
  const payload = Buffer.alloc(3_000_000, 9);
  stream.end(payload);
  t.true((await readAll(stream)).equals(payload));
});

test('after the opener half-closes, the acceptor can still write', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => {
    t.deepEqual(open.metadata, { trace: 'x' });
    const stream = open.accept();
    void readAll(stream).then((request) => {
      // Our read side ended (client FIN); we keep writing, then half-close ourselves.
      stream.write('got ');
      stream.end(request);
    });
  });
  const stream = await client.open({ host: 'h', port: 1, metadata: { trace: 'x' } });
  stream.end('question');
  t.is((await readAll(stream)).toString(), 'got question');
});

test('the acceptor half-closing first still lets the opener write', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  const received = new Promise<string>((resolve) => {
    server.on('stream', (open) => {
      const stream = open.accept();
      stream.end('banner');
      void readAll(stream).then((b) => resolve(b.toString()));
    });
  });
  const stream = await client.open({ host: 'h', port: 1 });
  t.is((await readAll(stream)).toString(), 'banner');
  stream.end('late upload');
  t.is(await received, 'late upload');
});

test('destroying a stream resets the peer with a code', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  const peerError = new Promise<Error & { code?: string; reason?: string }>((resolve) => {
    server.on('stream', (open) => open.accept().on('error', resolve));
  });
  const stream = await client.open({ host: 'h', port: 1 });
  stream.destroy();
  const error = await peerError;
  t.is(error.code, 'TP_ERR_TUNNEL_STREAM_RESET');
  t.is(error.reason, 'cancel');
});

test('an open-error rejects open() with the code the acceptor chose', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => open.reject(open.host === 'nope' ? 'dns' : 'forbidden', 'no such host'));
  await t.throwsAsync(client.open({ host: 'nope', port: 80 }), { code: 'TP_ERR_TUNNEL_OPEN', message: /dns/ });
  const error = await t.throwsAsync(client.open({ host: 'secret', port: 80 }));
  t.is((error as { reason?: string }).reason, 'forbidden');
});

test('a side without a stream listener refuses opens', async (t) => {
  const { client } = memorySessions();
  t.teardown(() => client.destroy());
  const error = await t.throwsAsync(client.open({ host: 'h', port: 1 }));
  t.is((error as { reason?: string }).reason, 'refused');
});

test('either side may open streams', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  acceptEcho(client);
  const stream = await server.open({ host: 'laptop', port: 8080 });
  t.is(stream.id % 2, 0);
  stream.end('reverse');
  t.is((await readAll(stream)).toString(), 'reverse');
});

test('an open times out with reason timeout and the acceptor sees it cancelled', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  const cancelled = new Promise<void>((resolve) => server.on('stream', (open) => open.signal.addEventListener('abort', () => resolve())));
  const error = await t.throwsAsync(client.open({ host: 'slow', port: 1 }, { timeoutMs: 50 }));
  t.is((error as { reason?: string }).reason, 'timeout');
  await cancelled;
});

test('opens beyond maxStreams get the limit code', async (t) => {
  const { client, server } = memorySessions({}, { maxStreams: 2 });
  t.teardown(() => client.destroy());
  server.on('stream', (open) => open.accept().on('error', () => {}));
  (await client.open({ host: 'h', port: 1 })).on('error', () => {});
  (await client.open({ host: 'h', port: 2 })).on('error', () => {});
  const error = await t.throwsAsync(client.open({ host: 'h', port: 3 }));
  t.is((error as { reason?: string }).reason, 'limit');
});

test('control requests get answers, errors and timeouts', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.handle('sum', (params) => (params as number[]).reduce((a, b) => a + b, 0));
  server.handle('fail', () => {
    throw Object.assign(new Error('bad input'), { code: 'E_BAD' });
  });
  server.handle('never', () => new Promise(() => {}));
  t.is(await client.request('sum', [1, 2, 3]), 6);
  const failed = await t.throwsAsync(client.request('fail', null), { instanceOf: RemoteCallError, code: 'TP_ERR_TUNNEL_RPC_FAILED', message: /bad input/ });
  t.is(failed?.peerCode, 'E_BAD');
  t.is(failed?.peerMessage, 'bad input');
  const missing = await t.throwsAsync(client.request('missing', null), { instanceOf: RemoteCallError, message: /no handler/ });
  t.is(missing?.peerCode, 'TP_ERR_TUNNEL_RPC_NO_METHOD');
  await t.throwsAsync(client.request('never', null, { timeoutMs: 30 }), { code: 'TP_ERR_TUNNEL_RPC_TIMEOUT' });
  const event = once<{ type: string; body: unknown }>(server, 'control');
  client.notify('intercept', { id: 1 });
  t.deepEqual(await event, { type: 'intercept', body: { id: 1 } });
});

test('go-away drains: no new streams, open ones finish, then close resolves', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  let accepted: import('../../src/tunnel/stream.js').TunnelStream | undefined;
  server.on('stream', (open) => {
    accepted = open.accept();
  });
  const stream = await client.open({ host: 'h', port: 1 });
  const closed = server.close();
  await once(client, 'goaway');
  await t.throwsAsync(client.open({ host: 'h', port: 2 }), { code: 'TP_ERR_TUNNEL_GOING_AWAY' });
  t.false(server.closed, 'the server waits for its open stream');
  accepted!.end('last words');
  t.is((await readAll(stream)).toString(), 'last words');
  stream.end();
  await closed;
  t.true(server.closed);
});

test('stats report streams, bytes and a measured RTT', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  acceptEcho(server);
  const stream = await client.open({ host: 'h', port: 1 });
  const rtt = await client.ping();
  const stats = client.stats();
  t.is(stats.openStreams, 1);
  t.true(stats.bytesOut > 0 && stats.bytesIn > 0);
  t.is(stats.rttMs, rtt);
  t.true(rtt >= 0);
  stream.destroy();
});

/** A transport that can be made to drop everything, like a peer that froze or a cable cut. */
function cuttable(inner: Transport): { transport: Transport; cut(): void } {
  let dead = false;
  const transport: Transport = {
    get bufferedAmount() {
      return inner.bufferedAmount;
    },
    label: inner.label,
    send: (data) => {
      if (!dead) inner.send(data);
    },
    attach: (handler) =>
      inner.attach({
        message: (data) => {
          if (!dead) handler.message(data);
        },
        drain: () => handler.drain(),
        close: (error) => handler.close(error),
      }),
    close: (error) => inner.close(error),
  };
  return { transport, cut: () => (dead = true) };
}

test('a dead peer is detected within deadPeerTimeoutMs and its streams error', async (t) => {
  const pair = createMemoryTransportPair();
  const link = cuttable(pair.client);
  // Generous against a loaded machine: pings every 50 ms, dead after 600 ms of silence.
  const client = new Session(link.transport, { role: 'client', pingIntervalMs: 50, deadPeerTimeoutMs: 600 });
  const server = new Session(pair.server, { role: 'server', pingIntervalMs: 50, deadPeerTimeoutMs: 10_000 });
  t.teardown(() => server.destroy());
  server.on('stream', (open) => open.accept().on('error', () => {}));
  const stream = await client.open({ host: 'h', port: 1 });
  const streamError = new Promise<Error & { code?: string }>((resolve) => stream.on('error', resolve));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.false(client.closed, 'pings keep a quiet but live session up');
  const started = Date.now();
  // The in-memory transport holds no handle open; keep the loop alive as a socket would.
  const keepLoopAlive = setInterval(() => {}, 50);
  t.teardown(() => clearInterval(keepLoopAlive));
  link.cut();
  const error = await streamError;
  t.is(error.code, 'TP_ERR_TUNNEL_PEER_TIMEOUT');
  t.true(Date.now() - started < 3000);
  t.true(client.closed);
});

test('when the session dies every stream errors with a code', async (t) => {
  const { client, server } = memorySessions();
  server.on('stream', (open) => open.accept().on('error', () => {}));
  const streams = await Promise.all([1, 2, 3].map((port) => client.open({ host: 'h', port })));
  const errors = Promise.all(streams.map((s) => new Promise<Error & { code?: string }>((resolve) => s.on('error', resolve))));
  client.destroy();
  for (const error of await errors) t.is(error.code, 'TP_ERR_TUNNEL_SESSION_CLOSED');
});

// ---- a raw peer speaking bytes at a real session ----

function rawPeer(): { session: Session; send(frame: Frame | Buffer): void; frames: Frame[]; closed: Promise<Error & { code?: string }> } {
  const pair = createMemoryTransportPair();
  const session = new Session(pair.client, { role: 'client', pingIntervalMs: 0, deadPeerTimeoutMs: 0 });
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  pair.server.attach({ message: (data) => frames.push(...decoder.push(data)), drain: () => {}, close: () => {} });
  const send = (frame: Frame | Buffer) => pair.server.send(Buffer.isBuffer(frame) ? frame : encodeFrame(frame));
  send({ kind: 'hello', streamId: 0, version: PROTOCOL_VERSION });
  const closed = new Promise<Error & { code?: string }>((resolve) => session.once('close', (error) => resolve(error!)));
  session.on('stream', (open) => open.accept().on('error', () => {}));
  return { session, send, frames, closed };
}

async function eventually<T>(probe: () => T | undefined, timeoutMs = 2000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const open = (streamId: number): Frame => ({ kind: 'open', streamId, window: 1000, host: 'h', port: 1, metadata: {} });

const violations: Array<[string, Frame[], RegExp]> = [
  ['a reused stream id', [open(2), open(2)], /reused/],
  ['an id of the wrong parity', [open(3)], /parity/],
  ['data on a stream never opened', [{ kind: 'data', streamId: 8, data: Buffer.from('x') }], /never opened/],
  ['data beyond the window', [open(2), { kind: 'data', streamId: 2, data: Buffer.alloc(300 * 1024) }], /beyond its window/],
  ['a window overflow', [open(2), { kind: 'window', streamId: 2, increment: 2 ** 31 - 1 }], /window overflow/],
  ['data after the peer reset the stream', [open(2), { kind: 'reset', streamId: 2, code: 'cancel', message: '' }, { kind: 'data', streamId: 2, data: Buffer.from('x') }], /after it was ended/],
  ['data after FIN', [open(2), { kind: 'fin', streamId: 2 }, { kind: 'data', streamId: 2, data: Buffer.from('x') }], /after FIN/],
  ['a second HELLO', [{ kind: 'hello', streamId: 0, version: PROTOCOL_VERSION }], /second HELLO/],
  ['an open-ok for a stream the peer opened', [open(2), { kind: 'open-ok', streamId: 2, window: 1 }], /which the peer opened/],
  ['a malformed control message', [{ kind: 'control', streamId: 0, message: [1, 2] }], /not an object|unknown kind/],
];

for (const [name, frames, message] of violations) {
  test(`a peer sending ${name} gets the session closed with a protocol error`, async (t) => {
    const peer = rawPeer();
    for (const frame of frames) peer.send(frame);
    const error = await peer.closed;
    t.is(error.code, 'TP_ERR_TUNNEL_PROTOCOL');
    t.regex(error.message, message);
    const goAway = await eventually(() => peer.frames.find((f) => f.kind === 'go-away'));
    t.is(goAway?.kind === 'go-away' ? goAway.code : undefined, 'protocol');
  });
}

test('a peer with another protocol version is refused', async (t) => {
  const pair = createMemoryTransportPair();
  const session = new Session(pair.client, { role: 'client' });
  pair.server.attach({ message: () => {}, drain: () => {}, close: () => {} });
  pair.server.send(encodeFrame({ kind: 'hello', streamId: 0, version: PROTOCOL_VERSION + 1 }));
  const error = await new Promise<Error & { code?: string }>((resolve) => session.once('close', (error) => resolve(error!)));
  t.is(error.code, 'TP_ERR_TUNNEL_VERSION');
});

test('garbage bytes close the session, not the process', async (t) => {
  const peer = rawPeer();
  peer.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  t.is((await peer.closed).code, 'TP_ERR_TUNNEL_PROTOCOL');
});

test('data crossing our own reset in flight is ignored', async (t) => {
  const peer = rawPeer();
  t.teardown(() => peer.session.destroy());
  const accepted = once<import('../../src/tunnel/incoming-open.js').IncomingOpen>(peer.session, 'stream');
  peer.send(open(2));
  await accepted;
  await new Promise((resolve) => setTimeout(resolve, 5));
  // The session reset stream 2 on its side; data the peer sent before it saw the reset is fine.
  for (const stream of (peer.session as unknown as { streams: Map<number, import('node:stream').Duplex> }).streams.values()) stream.destroy();
  peer.send({ kind: 'data', streamId: 2, data: Buffer.from('in flight') });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(peer.session.closed);
});

test('a bulk stream with a fast reader gets a bigger window, within maxWindow and the session budget', async (t) => {
  for (const [budget, expectGrowth] of [[64 * 1024 * 1024, true], [256 * 1024, false]] as const) {
    const { client, server } = memorySessions({}, { maxWindow: 2 * 1024 * 1024, maxSessionBuffer: budget });
    t.teardown(() => client.destroy());
    const accepted = new Promise<import('../../src/tunnel/stream.js').TunnelStream>((resolve) => server.on('stream', (open) => resolve(open.accept())));
    const stream = await client.open({ host: 'h', port: 1 });
    const receiver = await accepted;
    receiver.end();
    stream.resume();
    const received = readAll(receiver);
    const started = performance.now();
    stream.end(Buffer.alloc(32 * 1024 * 1024, 3));
    t.is((await received).length, 32 * 1024 * 1024);
    // A window grows while twice its rate times the path's round trip (at least 8 ms) is over it:
    // from 256 KiB that takes 16 MB/s. Memory streams run far faster, unless the machine is so
    // busy that this transfer crawled; then growth is not what the rule asks for and is not checked.
    // (Quiet, this machine moves 300–480 MB/s here; at 90 MB/s on average under a load of 7 the
    // window once stayed put: the rate the rule sees is per round trip, and a starved process
    // delivers in stalls and bursts. So only a transfer near the quiet rate is judged.)
    const rate = (32 * 1024 * 1024) / ((performance.now() - started) / 1000);
    if (!expectGrowth || rate > 200e6) t.is(receiver.receiveWindow > 256 * 1024, expectGrowth, `window ${receiver.receiveWindow} with a budget of ${budget} at ${(rate / 1e6).toFixed(0)} MB/s`);
    else t.log(`transfer at ${(rate / 1e6).toFixed(0)} MB/s: too slow here for the window to need growing`);
    t.true(receiver.receiveWindow <= 2 * 1024 * 1024);
  }
});

test('control messages over the frame limit are refused locally, never sent to kill the session', async (t) => {
  const { client, server } = memorySessions({ maxFramePayload: 64 * 1024 });
  t.teardown(() => client.destroy());
  server.handle('big', () => 'x'.repeat(100 * 1024));
  await t.throwsAsync(client.request('echo', 'y'.repeat(100 * 1024)), { code: 'TP_ERR_TUNNEL_INVALID_ARGUMENT' });
  t.throws(() => client.notify('big', 'z'.repeat(100 * 1024)), { code: 'TP_ERR_TUNNEL_INVALID_ARGUMENT' });
  await t.throwsAsync(client.request('big', null), { code: 'TP_ERR_TUNNEL_RPC_FAILED', message: /maxFramePayload/ });
  t.false(client.closed);
  t.false(server.closed);
});

test('opens beyond maxPendingOpens get the limit code', async (t) => {
  const { client, server } = memorySessions({}, { maxPendingOpens: 1 });
  t.teardown(() => client.destroy());
  server.on('stream', () => {}); // never answers
  const first = client.open({ host: 'h', port: 1 }, { timeoutMs: 5000 });
  first.catch(() => {});
  const error = await t.throwsAsync(client.open({ host: 'h', port: 2 }));
  t.is((error as { reason?: string }).reason, 'limit');
});

// Serial: the window a memory path needs is its rate (gigabytes a second) × the round trip its
// pings measured. With this file's other tests running beside it in the same process the pongs
// took 1.5–2.8 ms, a need of more than the 4 MiB window; run alone here they measure under the
// 0.25 ms floor. Other test files' processes can still load the machine.
test.serial("a bulk stream's window halves while another stream's requests move, and keeps its size while it is alone", async (t) => {
  const window = 4 * 1024 * 1024;
  const { client, server } = memorySessions({ initialWindow: window, maxWindow: window }, {});
  t.teardown(() => client.destroy());
  // The path's own round trip, measured before the bulk transfer queues ahead of the pongs.
  for (let i = 0; i < 5; i++) await client.ping();
  let pumping = true;
  server.on('stream', (open) => {
    const stream = open.accept();
    stream.on('error', () => {});
    if (open.port === 2) return void stream.pipe(stream);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = (): void => {
      while (pumping && stream.write(chunk));
      if (pumping) stream.once('drain', pump);
    };
    pump();
  });
  const bulk = await client.open({ host: 'h', port: 1 });
  bulk.on('error', () => {});
  let received = 0;
  bulk.on('data', (chunk: Buffer) => (received += chunk.length));
  await until(() => received >= 16 * window);
  t.is(bulk.receiveWindow, window, 'alone, the window keeps its size');
  // Requests and replies on another stream: the bulk stream's window gives way.
  const requests = await client.open({ host: 'h', port: 2 });
  requests.on('error', () => {});
  let replies = 0;
  requests.on('data', () => replies++);
  const asking = setInterval(() => requests.write('GET /small'), 2);
  t.teardown(() => clearInterval(asking));
  await until(() => bulk.receiveWindow <= window / 2 && replies > 0, 20_000);
  t.true(bulk.receiveWindow <= window / 2, `window ${bulk.receiveWindow} while requests move`);
  t.true(bulk.receiveWindow >= 256 * 1024);
  t.true(replies > 0);
  clearInterval(asking);
  pumping = false;
});

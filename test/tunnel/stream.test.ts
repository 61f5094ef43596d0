import { createHash } from 'node:crypto';
import test from 'ava';
import type { TunnelStream } from '../../src/tunnel/stream.js';
import { wsPair } from './ws-helpers.js';

const BLOCK = Buffer.alloc(64 * 1024);
for (let i = 0; i < BLOCK.length; i += 4) BLOCK.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ (i >>> 3)) >>> 0, i);

/** Writes `total` bytes of pseudo-random data (a block stamped with stream id and counter) with backpressure; resolves with its SHA-256. */
function sendData(stream: TunnelStream, seed: number, total: number): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  let counter = 0;
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    const pump = (): void => {
      while (sent < total) {
        const size = Math.min(BLOCK.length - (counter % 7) * 1000, total - sent);
        const chunk = Buffer.from(BLOCK.subarray(0, size));
        chunk.writeUInt32LE(seed, 0);
        chunk.writeUInt32LE(counter++, 4);
        hash.update(chunk);
        sent += size;
        if (!stream.write(chunk)) return void stream.once('drain', pump);
      }
      stream.end(() => resolve(hash.digest('hex')));
    };
    pump();
  });
}

function hashIncoming(stream: TunnelStream): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.once('end', () => resolve({ digest: hash.digest('hex'), bytes }));
    stream.once('error', reject);
  });
}

test('200 concurrent streams move 1 GiB both ways over ws with every byte checked', async (t) => {
  const pair = await wsPair();
  t.teardown(() => pair.close());
  const STREAMS = 200;
  const PER_DIRECTION = Math.ceil(1024 ** 3 / STREAMS / 2) + 4096;
  const serverSide = new Map<number, Promise<[string, { digest: string; bytes: number }]>>();
  pair.serverSession.on('stream', (open) => {
    const stream = open.accept();
    const seed = Number(open.metadata.seed);
    serverSide.set(seed, Promise.all([sendData(stream, seed + 1_000_000, PER_DIRECTION + seed), hashIncoming(stream)]));
  });
  const results = await Promise.all(
    Array.from({ length: STREAMS }, async (_, seed) => {
      const stream = await pair.client.open({ host: 'bulk', port: 9, metadata: { seed } });
      const [sentDigest, received] = await Promise.all([sendData(stream, seed, PER_DIRECTION - seed), hashIncoming(stream)]);
      return { seed, sentDigest, received };
    }),
  );
  let total = 0;
  for (const { seed, sentDigest, received } of results) {
    const [serverSent, serverReceived] = await serverSide.get(seed)!;
    t.is(serverReceived.bytes, PER_DIRECTION - seed);
    t.is(serverReceived.digest, sentDigest, `client→server bytes of stream ${seed}`);
    t.is(received.bytes, PER_DIRECTION + seed);
    t.is(received.digest, serverSent, `server→client bytes of stream ${seed}`);
    total += serverReceived.bytes + received.bytes;
  }
  t.true(total >= 1024 ** 3);
  t.is(pair.client.stats().openStreams, 0);
});

test('a stalled reader holds its own stream back without growing memory or stalling its neighbours', async (t) => {
  const pair = await wsPair({ initialWindow: 128 * 1024 });
  t.teardown(() => pair.close());
  const stalled = new Promise<TunnelStream>((resolve) => {
    pair.serverSession.on('stream', (open) => {
      const stream = open.accept();
      if (open.metadata.stall) return resolve(stream); // never read
      void hashIncoming(stream).then(() => stream.end());
    });
  });
  const slow = await pair.client.open({ host: 'h', port: 1, metadata: { stall: true } });
  let writtenToStalled = 0;
  let stalledBlocked = false;
  const fill = (): void => {
    while (slow.write(BLOCK)) writtenToStalled += BLOCK.length;
    writtenToStalled += BLOCK.length;
    stalledBlocked = true;
  };
  fill();
  const stalledServerStream = await stalled;
  // Neighbours move 64 MiB while the stalled stream sits.
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const stream = await pair.client.open({ host: 'h', port: 2 + i });
      stream.resume();
      await sendData(stream, i, 8 * 1024 * 1024);
      await new Promise((resolve) => stream.once('end', resolve));
    }),
  );
  t.true(stalledBlocked);
  const serverStats = pair.serverSession.stats();
  const clientStats = pair.client.stats();
  t.log({ writtenToStalled, serverBuffered: serverStats.bufferedBytes, clientBuffered: clientStats.bufferedBytes });
  // The receiver holds at most the stalled stream's window; the sender at most its stream buffers.
  t.true(stalledServerStream.readableLength <= 128 * 1024, `stalled stream buffered ${stalledServerStream.readableLength}`);
  t.true(serverStats.bufferedBytes <= 256 * 1024);
  t.true(clientStats.bufferedBytes <= 256 * 1024);
  t.true(writtenToStalled <= 128 * 1024 + 2 * 64 * 1024 + BLOCK.length, `${writtenToStalled} bytes accepted by the stalled stream`);
  // Once the reader wakes up, everything arrives.
  const rest = hashIncoming(stalledServerStream);
  slow.end();
  t.is((await rest).bytes, writtenToStalled);
  slow.destroy();
});

test('a reset stream errors on the peer while the session and other streams carry on', async (t) => {
  const pair = await wsPair();
  t.teardown(() => pair.close());
  const serverStreams: TunnelStream[] = [];
  pair.serverSession.on('stream', (open) => {
    const stream = open.accept();
    stream.on('error', () => {});
    serverStreams.push(stream);
    stream.pipe(stream);
  });
  const doomed = await pair.client.open({ host: 'h', port: 1 });
  const survivor = await pair.client.open({ host: 'h', port: 2 });
  const reset = new Promise<Error & { code?: string; reason?: string }>((resolve) => serverStreams[0].once('error', resolve));
  doomed.on('error', () => {});
  doomed.destroy(new Error('client gave up'));
  const error = await reset;
  t.is(error.code, 'TP_ERR_TUNNEL_STREAM_RESET');
  t.is(error.reason, 'internal');
  const echoed = new Promise<string>((resolve) => survivor.once('data', (d: Buffer) => resolve(d.toString())));
  survivor.write('still here');
  t.is(await echoed, 'still here');
  survivor.destroy();
});

// The four ways a TCP connection ends, checked through a relay between a real client and a real
// origin server: (a) the origin ends first after a large body that the client reads slowly, (b)
// the client half-closes first and then reads the whole answer, (c) the origin resets, (d) the
// client resets. Every byte must arrive (count and SHA-256), an end as an end, a reset as
// ECONNRESET. Used by the pipe tests (test/tunnel/socket-pipe, test/net/pipe).
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';

/** A relay listening on a port that carries each connection on to `originPort`. */
export type MakeRelay = (t: ExecutionContext, originPort: number, options?: { delayMs?: number }) => Promise<number>;

const BIG = 8 * 1024 * 1024;
const UPLOAD = 1024 * 1024;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function listen(t: ExecutionContext, onSocket: (socket: net.Socket) => void, allowHalfOpen = false): Promise<number> {
  // Not half-open unless the case needs it: the relay keeps TCP semantics whatever its peers do.
  const server = net.createServer({ allowHalfOpen }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** Reads to the end, pausing after every chunk; resolves with the bytes and how it ended. */
function read(socket: net.Socket, slow = false): Promise<{ data: Buffer; ended: 'end' | string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!slow) return;
      socket.pause();
      setTimeout(() => socket.resume(), 1);
    });
    // libuv reports an RST that arrives while bytes are unread as an end: a zero-length write
    // fails with ECONNRESET on a reset socket (then the 'error' below answers), works after a FIN.
    // (Once our own FIN is sent no write can ask; the end counts as one.)
    const ended = (): void => resolve({ data: Buffer.concat(chunks), ended: 'end' });
    socket.once('end', () => (socket.writable ? socket.write(Buffer.alloc(0), (error) => error || ended()) : ended()));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), ended: error.code ?? error.message }));
  });
}

function dial(port: number): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setNoDelay(true);
  return socket;
}

export function tcpEndings(title: string, makeRelay: MakeRelay): void {
  test(`${title}: the server ends first after ${BIG >> 20} MiB to a slow reader; every byte arrives, then an end`, async (t) => {
    const body = randomBytes(BIG);
    const origin = await listen(t, (socket) => {
      socket.on('error', () => undefined);
      socket.end(body);
    });
    const client = dial(await makeRelay(t, origin));
    const { data, ended } = await read(client, true);
    client.end();
    t.is(ended, 'end');
    t.is(data.length, BIG);
    t.is(sha(data), sha(body));
  });

  test(`${title}: the client half-closes after its upload and then reads the whole answer`, async (t) => {
    const upload = randomBytes(UPLOAD);
    const answer = randomBytes(BIG);
    let received: Promise<{ data: Buffer; ended: string }> | undefined;
    const origin = await listen(t, (socket) => {
      received = read(socket);
      void received.then(() => socket.end(answer));
    }, true);
    const client = dial(await makeRelay(t, origin));
    client.end(upload);
    const { data, ended } = await read(client);
    const seen = await received!;
    t.is(seen.ended, 'end');
    t.is(sha(seen.data), sha(upload));
    t.is(ended, 'end');
    t.is(data.length, BIG);
    t.is(sha(data), sha(answer));
  });

  test(`${title}: a client that half-closes at once, before the relay pipes it, still gets the answer`, async (t) => {
    const origin = await listen(t, (socket) => {
      void read(socket).then(({ data }) => socket.end(`got ${data.length}`));
    }, true);
    const client = dial(await makeRelay(t, origin, { delayMs: 200 }));
    // Nothing sent: Node emits 'end' on the relay's paused socket before the pipe is attached.
    // (A relay that waits must listen half-open: nothing can keep a socket open before it has it.)
    client.end();
    const { data, ended } = await read(client);
    t.is(ended, 'end');
    t.is(data.toString(), 'got 0');
  });

  test(`${title}: the server resets; the client sees ECONNRESET, not an end`, async (t) => {
    const origin = await listen(t, (socket) => {
      socket.on('error', () => undefined);
      socket.write(randomBytes(BIG / 2), () => socket.resetAndDestroy());
    });
    const client = dial(await makeRelay(t, origin));
    const { ended } = await read(client);
    t.is(ended, 'ECONNRESET');
  });

  test(`${title}: the client resets; the server sees ECONNRESET, not an end`, async (t) => {
    let serverSaw: Promise<{ ended: string }> | undefined;
    const origin = await listen(t, (socket) => {
      serverSaw = read(socket);
      socket.write('ready\n');
    });
    const client = dial(await makeRelay(t, origin));
    await new Promise((resolve) => client.once('data', resolve));
    client.resetAndDestroy();
    t.is((await serverSaw!).ended, 'ECONNRESET');
  });
}

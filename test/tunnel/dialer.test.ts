import net from 'node:net';
import test from 'ava';
import { acceptByDialing } from '../../src/tunnel/dialer.js';
import { memorySessions, readAll, until } from './helpers.js';
import { refusedPort } from '../helpers/refused-port.js';

async function tcpEcho(t: import('ava').ExecutionContext): Promise<number> {
  const server = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

const closedPort = refusedPort;

test('an accepted open is piped to a real TCP connection, half-close included', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => void acceptByDialing(open));
  const stream = await client.open({ host: '127.0.0.1', port: await tcpEcho(t) });
  stream.end('through tcp');
  t.is((await readAll(stream)).toString(), 'through tcp');
});

test('a refused connection becomes open-error refused', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => void acceptByDialing(open));
  const error = await t.throwsAsync(client.open({ host: '127.0.0.1', port: await closedPort() }));
  t.is((error as { reason?: string }).reason, 'refused');
});

test('a name that does not resolve becomes open-error dns', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => void acceptByDialing(open));
  const error = await t.throwsAsync(client.open({ host: 'no-such-host.invalid', port: 80 }));
  t.is((error as { reason?: string }).reason, 'dns');
});

test('a TCP reset from the destination resets the stream', async (t) => {
  const server = net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { client, server: manager } = memorySessions();
  t.teardown(() => client.destroy());
  manager.on('stream', (open) => void acceptByDialing(open));
  const stream = await client.open({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  const error = new Promise<Error & { code?: string }>((resolve) => stream.once('error', resolve));
  stream.write('hi');
  t.is((await error).code, 'TP_ERR_TUNNEL_STREAM_RESET');
});

test('the destination half-closing first leaves the upload direction open', async (t) => {
  let uploaded = '';
  let setPort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (setPort = resolve));
  const done = new Promise<void>((resolve) => {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.end('banner');
      socket.on('data', (d: Buffer) => (uploaded += d.toString()));
      socket.on('end', () => resolve());
    });
    server.listen(0, '127.0.0.1');
    t.teardown(() => server.close());
    server.once('listening', () => setPort((server.address() as net.AddressInfo).port));
  });
  const { client, server: manager } = memorySessions();
  t.teardown(() => client.destroy());
  manager.on('stream', (open) => void acceptByDialing(open));
  const stream = await client.open({ host: '127.0.0.1', port: await port });
  t.is((await readAll(stream)).toString(), 'banner');
  stream.end('upload after their FIN');
  await done;
  t.is(uploaded, 'upload after their FIN');
});

test('a connect that never completes becomes open-error timeout, and one that is cancelled is closed', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  // A socket that is never connected: what a dial into a black hole looks like from here.
  const stalled: net.Socket[] = [];
  server.on('stream', (open) => void acceptByDialing(open, { dial: () => stalled[stalled.push(new net.Socket()) - 1], connectTimeoutMs: 50 }));
  const error = await t.throwsAsync(client.open({ host: 'black.hole', port: 1 }, { timeoutMs: 5000 }));
  t.is((error as { reason?: string }).reason, 'timeout');
  t.true(stalled[0].destroyed);
  // The opener gives up first: the dial is cancelled and its socket destroyed.
  await t.throwsAsync(client.open({ host: 'black.hole', port: 2 }, { timeoutMs: 20 }));
  await until(() => stalled.length === 2 && stalled[1].destroyed);
  t.true(stalled[1].destroyed);
});

test('an open the opener gave up before the dial started is never dialled, and a cancelled dial settles', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  const dialled: string[] = [];
  const settled: string[] = [];
  // The caller checks something first (as the manager resolves and checks a destination), long
  // enough for the opener to give up; then dials into a black hole.
  server.on('stream', (open) => {
    void new Promise((resolve) => setTimeout(resolve, open.port === 1 ? 100 : 0))
      .then(() => acceptByDialing(open, { dial: () => (dialled.push(open.host), new net.Socket()), connectTimeoutMs: 60_000 }))
      .then(() => settled.push(open.host));
  });
  await t.throwsAsync(client.open({ host: 'late.check', port: 1 }, { timeoutMs: 20 }));
  await until(() => settled.includes('late.check'));
  t.deepEqual(dialled, [], 'the dial after the cancel never happened');
  await t.throwsAsync(client.open({ host: 'black.hole', port: 2 }, { timeoutMs: 20 }));
  await until(() => settled.includes('black.hole'));
  t.deepEqual(dialled, ['black.hole'], 'a cancel during the connect ends the dial, with no timeout left to run');
});

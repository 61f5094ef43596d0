import test from 'ava';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connectTcp, DialError, type DialTarget } from '../../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../../src/proxy/routing.js';
import { execFile } from 'node:child_process';
import { createUidGate, type OwnerGate } from '../../../src/proxy/owner-gate.js';
import { RUNNING_AS_ROOT, asUser } from '../../helpers/unprivileged.js';
import { encodeHandover, HandoverError, MAX_HANDOVER_BYTES, parseHandover, RedirectListener } from '../../../src/run/daemon/redirect-listener.js';

const TOKEN = 'feedfacefeedfacefeedfacefeedface';
const table = createRoutingTable({ serviceCidrs: ['198.51.100.0/24'] });

test('parses a hand-over with the right token', (t) => {
  t.deepEqual(parseHandover(Buffer.from(`${TOKEN} 40000 198.51.100.7 80`), TOKEN), { laptopPort: 40000, target: { host: '198.51.100.7', port: 80 } });
  t.deepEqual(parseHandover(encodeHandover(TOKEN, { laptopPort: 1, target: { host: 'fd00::1', port: 65535 } }), TOKEN).target, { host: 'fd00::1', port: 65535 });
});

test('rejects hand-overs with a wrong token, bad fields or too many bytes', (t) => {
  const bad = [
    `${TOKEN.replace('f', 'e')} 40000 198.51.100.7 80`,
    `${TOKEN} 40000 198.51.100.7`,
    `${TOKEN} 0 198.51.100.7 80`,
    `${TOKEN} 40000 198.51.100.7 65536`,
    `${TOKEN} -1 198.51.100.7 80`,
    `short 40000 198.51.100.7 80`,
    `${TOKEN} 40000 ${'a'.repeat(MAX_HANDOVER_BYTES)} 80`,
    // Found by the fuzzer (test/fuzz/corpus/handover/host-control-characters): control bytes in the host.
    `${TOKEN} 40000 web.svc\x00\x01.local 80`,
    `${TOKEN} 40000 web\tsvc 80`,
    `${TOKEN} 40000 caf\xe9.example 80`,
  ];
  for (const text of bad) t.throws(() => parseHandover(Buffer.from(text), TOKEN), { instanceOf: HandoverError }, text);
});

interface Harness {
  redirectPort: number;
  handoverPort: number;
  dialed: DialTarget[];
}

async function start(t: { teardown(fn: () => unknown): void }, options: { handoverWaitMs?: number; gate?: OwnerGate } = {}): Promise<Harness> {
  // A connection the listener destroys is reset (an abort), which the echo side sees as ECONNRESET.
  const echo = createServer((socket) => socket.on('error', () => undefined).pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const echoPort = (echo.address() as AddressInfo).port;
  const dialed: DialTarget[] = [];
  const listener = new RedirectListener({
    token: TOKEN,
    route: (target) => decideRoute(target, table),
    dial: async (target) => {
      dialed.push(target);
      if (target.port !== 7) throw new DialError('TP_ERR_DIAL_REFUSED', target, 'refused');
      return connectTcp({ host: '127.0.0.1', port: echoPort });
    },
    ...options,
  });
  const ports = await listener.listen();
  t.teardown(() => listener.destroy());
  return { ...ports, dialed };
}

function sendDatagram(port: number, bytes: Buffer): Promise<void> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.send(bytes, port, '127.0.0.1', () => (socket.close(), resolve())));
}

function connectFromLoopback(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function exchange(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data) => resolve(data.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

function closedWith(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.once('close', () => resolve('close'));
    socket.resume();
  });
}

test('a connection waits for a late hand-over, then is piped to the target it names', async (t) => {
  const h = await start(t);
  // Hand-over late: the connection waits for it.
  const late = await connectFromLoopback(h.redirectPort);
  t.teardown(() => late.destroy());
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort: late.localPort!, target: { host: '198.51.100.7', port: 7 } }));
  t.is(await exchange(late, 'late'), 'late');
  t.deepEqual(h.dialed, [{ host: '198.51.100.7', port: 7 }]);
});

test('a connection without a hand-over is reset after the wait', async (t) => {
  const h = await start(t, { handoverWaitMs: 100 });
  const socket = await connectFromLoopback(h.redirectPort);
  t.is(await closedWith(socket), 'ECONNRESET');
  t.deepEqual(h.dialed, []);
});

test('a hand-over with a wrong token is ignored', async (t) => {
  const h = await start(t, { handoverWaitMs: 200 });
  const socket = await connectFromLoopback(h.redirectPort);
  await sendDatagram(h.handoverPort, encodeHandover('0'.repeat(TOKEN.length), { laptopPort: socket.localPort!, target: { host: '198.51.100.7', port: 7 } }));
  t.is(await closedWith(socket), 'ECONNRESET');
  t.deepEqual(h.dialed, []);
});

test('a failed dial resets the connection and the listener lives on', async (t) => {
  const h = await start(t);
  const refused = await connectFromLoopback(h.redirectPort);
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort: refused.localPort!, target: { host: '198.51.100.7', port: 8 } }));
  t.is(await closedWith(refused), 'ECONNRESET');
  const next = await connectFromLoopback(h.redirectPort);
  t.teardown(() => next.destroy());
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort: next.localPort!, target: { host: '198.51.100.7', port: 7 } }));
  t.is(await exchange(next, 'still here'), 'still here');
});

test('garbage datagrams do not disturb the listener', async (t) => {
  const h = await start(t);
  await sendDatagram(h.handoverPort, Buffer.alloc(2000, 0xff));
  await sendDatagram(h.handoverPort, Buffer.from('\n\n'));
  const socket = await connectFromLoopback(h.redirectPort);
  t.teardown(() => socket.destroy());
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort: socket.localPort!, target: { host: '198.51.100.7', port: 7 } }));
  t.is(await exchange(socket, 'ok'), 'ok');
});

test('close is idempotent and frees the redirect port', async (t) => {
  const listener = new RedirectListener({ token: TOKEN, route: (target) => decideRoute(target, table), dial: () => Promise.reject(new Error('unused')) });
  const { redirectPort } = await listener.listen();
  await Promise.all([listener.close(), listener.close(), listener.destroy()]);
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(redirectPort, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  t.is(refused, 'ECONNREFUSED');
});

test('another user binding the hand-over port on 127.0.0.2 is reset and the owner still gets the connection', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a client as another user');
  const h = await start(t, { gate: createUidGate(process.getuid!()) });
  const spare = createServer();
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
  const laptopPort = (spare.address() as AddressInfo).port;
  await new Promise((resolve) => spare.close(resolve));
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort, target: { host: '198.51.100.7', port: 7 } }));
  const script = `const s = require('net').connect({ host: '127.0.0.1', port: ${h.redirectPort}, localAddress: '127.0.0.2', localPort: ${laptopPort} });
    s.on('connect', () => s.write('steal')); s.on('data', (d) => console.log('data ' + d)); s.on('error', (e) => console.log(e.code)); s.on('close', () => process.exit(0));`;
  const [file, argv] = asUser(process.execPath, ['-e', script]);
  const stdout = await new Promise<string>((resolve, reject) => execFile(file, argv, { encoding: 'utf8', timeout: 20_000 }, (error, out) => (error ? reject(error) : resolve(out))));
  t.is(stdout.trim(), 'ECONNRESET');
  t.deepEqual(h.dialed, []);
  const owner = await new Promise<Socket>((resolve, reject) => {
    const socket = connect({ port: h.redirectPort, host: '127.0.0.1', localPort: laptopPort }, () => resolve(socket));
    socket.once('error', reject);
  });
  t.teardown(() => owner.destroy());
  t.is(await exchange(owner, 'mine'), 'mine');
  t.deepEqual(h.dialed, [{ host: '198.51.100.7', port: 7 }]);
});

test('a connection from another loopback address with the same source port is reset; the one from 127.0.0.1 gets the hand-over', async (t) => {
  const h = await start(t, { handoverWaitMs: 5_000 });
  const first = await connectFromLoopback(h.redirectPort);
  t.teardown(() => first.destroy());
  const laptopPort = first.localPort!;
  // The reset may come before or after connect() reports success.
  const elsewhere = connect({ port: h.redirectPort, host: '127.0.0.1', localAddress: '127.0.0.2', localPort: laptopPort });
  t.is(await closedWith(elsewhere), 'ECONNRESET');
  await sendDatagram(h.handoverPort, encodeHandover(TOKEN, { laptopPort, target: { host: '198.51.100.7', port: 7 } }));
  t.is(await exchange(first, 'first'), 'first');
  t.deepEqual(h.dialed, [{ host: '198.51.100.7', port: 7 }]);
});

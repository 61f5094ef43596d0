import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connectTcp } from '../../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../../src/proxy/routing.js';
import { encodeHandover, RedirectListener, type RedirectListenerOptions } from '../../../src/run/daemon/redirect-listener.js';
import { waitFor } from '../../helpers/wait-for.js';
import { openConnection, trickle } from '../../proxy/helpers.js';

const TOKEN = 'feedfacefeedfacefeedfacefeedface';
const table = createRoutingTable({ serviceCidrs: ['198.51.100.0/24'] });
const ECHO_TARGET = { host: '198.51.100.7', port: 7 };

async function start(t: ExecutionContext, options: Partial<RedirectListenerOptions>): Promise<{ redirectPort: number; handoverPort: number }> {
  // A connection the listener aborts is reset, which the echo side sees as ECONNRESET.
  const echo = createServer((socket) => socket.on('error', () => undefined).pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const echoPort = (echo.address() as AddressInfo).port;
  const listener = new RedirectListener({
    token: TOKEN,
    route: (target) => decideRoute(target, table),
    dial: () => connectTcp({ host: '127.0.0.1', port: echoPort }),
    ...options,
  });
  const ports = await listener.listen();
  t.teardown(() => listener.destroy());
  return ports;
}

function handOver(handoverPort: number, socket: Socket): Promise<void> {
  const udp = createSocket('udp4');
  const datagram = encodeHandover(TOKEN, { laptopPort: socket.localPort!, target: ECHO_TARGET });
  return new Promise((resolve) => udp.send(datagram, handoverPort, '127.0.0.1', () => (udp.close(), resolve())));
}

function echoed(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data: Buffer) => resolve(data.toString()));
    socket.once('close', () => reject(new Error('closed before the echo')));
    socket.write(text);
  });
}

test('bytes sent before the hand-over do not extend its wait: the connection is reset at the deadline', async (t) => {
  const { redirectPort } = await start(t, { handoverWaitMs: 1_000 });
  const bytes = Buffer.from('GET / HTTP/1.1\r\nHost: web\r\n\r\n');
  const slow = await trickle(redirectPort, bytes, 300);
  t.true(slow.closedByServer);
  t.true(slow.sent < bytes.length, `sent ${slow.sent} of ${bytes.length} bytes before the reset`);
  t.true(slow.elapsedMs >= 1_000);
  t.is(slow.received.length, 0);
});

test('past the connection cap a connection is reset at once; a slot frees when one closes', async (t) => {
  const { redirectPort, handoverPort } = await start(t, { maxConnections: 2, handoverWaitMs: 60_000 });
  const first = await openConnection(t, redirectPort);
  await handOver(handoverPort, first);
  t.is(await echoed(first, 'one'), 'one');
  await openConnection(t, redirectPort);
  // The reset may come before or after the client sees its connect() complete.
  const refused = connect({ host: '127.0.0.1', port: redirectPort });
  const reset = await new Promise<string>((resolve) => {
    refused.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    refused.once('close', () => resolve('close'));
    refused.resume();
  });
  t.is(reset, 'ECONNRESET');
  first.destroy();
  const served = await waitFor('a free connection slot', async () => {
    const next = await openConnection(t, redirectPort);
    await handOver(handoverPort, next);
    return echoed(next, 'again');
  }, 10_000, 100);
  t.is(served, 'again');
});

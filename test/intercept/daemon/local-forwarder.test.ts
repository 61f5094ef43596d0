import test from 'ava';
import { createServer, type AddressInfo } from 'node:net';
import { forwardToLaptop } from '../../../src/intercept/daemon/local-forwarder.js';
import { memorySessions, readAll } from '../../tunnel/helpers.js';
import { refusedPort } from '../../helpers/refused-port.js';

function target(port: number) {
  const state: { warning?: string } = {};
  return { state, target: { name: 'web', laptopAddress: '127.0.0.1', laptopPort: port, setWarning: (w?: string) => void (state.warning = w) } };
}

/** A loopback port that was just free: nothing listens on it. */
const closedPort = refusedPort;

test('an intercepted stream is piped to the local port, byte for byte', async (t) => {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { client, server: manager } = memorySessions();
  t.teardown(() => client.destroy());
  const { state, target: local } = target((server.address() as AddressInfo).port);
  client.on('stream', (open) => forwardToLaptop(open, local));
  const stream = await manager.open({ host: '127.0.0.1', port: local.laptopPort, metadata: { intercept: 'x' } });
  stream.end(Buffer.from('hello through the laptop'));
  t.is((await readAll(stream)).toString(), 'hello through the laptop');
  t.is(state.warning, undefined);
});

test('with nothing listening, an HTTP request gets a 502 that explains, and the intercept keeps a warning', async (t) => {
  const port = await closedPort();
  const { client, server: manager } = memorySessions();
  t.teardown(() => client.destroy());
  const { state, target: local } = target(port);
  client.on('stream', (open) => forwardToLaptop(open, local));
  const stream = await manager.open({ host: '127.0.0.1', port, metadata: { intercept: 'x' } });
  stream.write('GET / HTTP/1.1\r\nhost: web\r\n\r\n');
  const answer = (await readAll(stream)).toString();
  t.regex(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  t.regex(answer, new RegExp(`nothing is listening there.*tp leave web`, 's'));
  t.regex(state.warning ?? '', new RegExp(`nothing is listening on 127.0.0.1:${port}`));
});

test('with nothing listening, a non-HTTP stream is reset', async (t) => {
  const port = await closedPort();
  const { client, server: manager } = memorySessions();
  t.teardown(() => client.destroy());
  client.on('stream', (open) => forwardToLaptop(open, target(port).target));
  const stream = await manager.open({ host: '127.0.0.1', port, metadata: { intercept: 'x' } });
  stream.write('\x16\x03\x01 not http\n');
  await t.throwsAsync(readAll(stream), { code: 'TP_ERR_TUNNEL_STREAM_RESET' } as never);
});

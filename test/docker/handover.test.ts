// The host's way into a Docker-mode daemon, with real parts: handOver opens a connection through a
// real capture listener (the daemon's side) to a TCP server here; a FIN passes as a FIN with the
// other direction still flowing, and a target nothing listens on is refused.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handOver } from '../../src/docker/handover.js';
import { createDirectDial } from '../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { CaptureListener } from '../../src/run/daemon/capture-listener.js';

async function daemonSide(t: ExecutionContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-handover-'));
  const socketPath = join(dir, 'daemon.capture.sock');
  const capture = new CaptureListener({ socketPath, dnsPort: 1, dial: createDirectDial(), route: (target) => decideRoute(target, createRoutingTable()) });
  await capture.listen();
  t.teardown(async () => {
    await capture.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return socketPath;
}

test('a connection handed over reaches the target; our FIN arrives as a FIN and the answer still comes back', async (t) => {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    socket.on('end', () => socket.end(`got ${got}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const stream = await handOver(await daemonSide(t), { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  const answer = await new Promise<string>((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
    stream.end('ping');
  });
  t.is(answer, 'got ping');
});

test('a target nothing listens on is refused, and a name or IPv6 address is not handed over', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const socketPath = await daemonSide(t);
  await t.throwsAsync(handOver(socketPath, { host: '127.0.0.1', port }), { message: /refused/ });
  await t.throwsAsync(handOver(socketPath, { host: 'hello.default', port: 80 }), { message: /IPv4 addresses only/ });
  await t.throwsAsync(handOver(socketPath, { host: '::1', port }), { message: /IPv4 addresses only/ });
});

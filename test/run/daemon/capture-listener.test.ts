// The daemon's capture socket with a relay played by the test over a real Unix socket and a real
// TCP destination: the header, 'O'/'R', and the frames that carry data, a FIN and a reset.
import test from 'ava';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDirectDial } from '../../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../../src/proxy/routing.js';
import { CaptureListener, parseCaptureHeader } from '../../../src/run/daemon/capture-listener.js';
import { frame } from '../../../src/capture/frames.js';
import { refusedPort } from '../../helpers/refused-port.js';


interface Relay {
  socket: Socket;
  /** Bytes from the daemon after the status byte, decoded into frames as they come. */
  frames: { kind: string; data: string }[];
  status: Promise<string>;
}

function openRelay(path: string, header: string, opened: Socket[]): Relay {
  const socket = connect({ path, allowHalfOpen: true });
  opened.push(socket);
  const frames: Relay['frames'] = [];
  let buffer = Buffer.alloc(0);
  let resolveStatus: (status: string) => void;
  const status = new Promise<string>((resolve) => (resolveStatus = resolve));
  let gotStatus = false;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!gotStatus && buffer.length > 0) {
      gotStatus = true;
      resolveStatus(String.fromCharCode(buffer[0]));
      buffer = buffer.subarray(1);
    }
    while (buffer.length >= 3 && buffer.length >= 3 + buffer.readUInt16BE(1)) {
      const length = buffer.readUInt16BE(1);
      frames.push({ kind: String.fromCharCode(buffer[0]), data: buffer.subarray(3, 3 + length).toString() });
      buffer = buffer.subarray(3 + length);
    }
  });
  socket.on('end', () => {
    if (!gotStatus) resolveStatus('');
  });
  socket.write(header);
  return { socket, frames, status };
}

async function until(check: () => boolean, state: () => string = () => ''): Promise<void> {
  for (let tries = 0; !check(); tries++) {
    if (tries > 300) throw new Error(`not yet: ${state()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setUp(t: import('ava').ExecutionContext, onConnection: (socket: Socket) => void): Promise<{ path: string; port: number; open(header: string): Relay }> {
  const opened: Socket[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tp-capture-'));
  const upstream: Server = createServer({ allowHalfOpen: true }, onConnection);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const path = join(dir, 'capture.sock');
  const listener = new CaptureListener({ socketPath: path, dnsPort: 1, dial: createDirectDial(), route: (target) => decideRoute(target, createRoutingTable()) });
  await listener.listen();
  t.teardown(async () => {
    opened.forEach((socket) => socket.destroy());
    await listener.close();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, port: (upstream.address() as AddressInfo).port, open: (header) => openRelay(path, header, opened) };
}

test('headers: an IPv4 target or the DNS stub, nothing else', (t) => {
  t.deepEqual(parseCaptureHeader('tp-capture 1 10.96.0.10 80'), { kind: 'tcp', target: { host: '10.96.0.10', port: 80 } });
  t.deepEqual(parseCaptureHeader('tp-capture 1 dns 53'), { kind: 'dns' });
  for (const bad of ['tp-capture 1 dns 54', 'tp-capture 2 10.0.0.1 80', 'tp-capture 1 example.com 80', 'tp-capture 1 10.0.0.1 0', 'tp-capture 1 10.0.0.1 70000', 'tp-capture 1 10.0.0.1 80 extra']) {
    t.is(parseCaptureHeader(bad), undefined, bad);
  }
});

test('the socket is the user\'s alone, and a bad header hears R', async (t) => {
  const { path, open } = await setUp(t, () => undefined);
  t.is(statSync(path).mode & 0o777, 0o600);
  const relay = open('GET / HTTP/1.1\n');
  t.is(await relay.status, 'R');
});

test('data both ways, the client\'s FIN reaches the server, and the server\'s answer after it comes back with its own FIN', async (t) => {
  const { port, open } = await setUp(t, (socket) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    socket.on('end', () => socket.end(`${got}|after-fin`));
  });
  const relay = open(`tp-capture 1 127.0.0.1 ${port}\n`);
  t.is(await relay.status, 'O');
  relay.socket.write(Buffer.concat([frame('D', Buffer.from('ping')), frame('E')]));
  await until(() => relay.frames.some((f) => f.kind === 'E'));
  t.deepEqual(relay.frames, [
    { kind: 'D', data: 'ping|after-fin' },
    { kind: 'E', data: '' },
  ]);
});

test('a reset from the server becomes an X frame, and an X frame resets the server\'s connection', async (t) => {
  const serverErrors: string[] = [];
  let serverGot = '';
  const { port, open } = await setUp(t, (socket) => {
    socket.on('error', (error: NodeJS.ErrnoException) => serverErrors.push(error.code ?? error.message));
    socket.on('data', (chunk: Buffer) => {
      serverGot += chunk.toString();
      if (chunk.toString() === 'reset-me') socket.resetAndDestroy();
    });
  });
  const first = open(`tp-capture 1 127.0.0.1 ${port}\n`);
  t.is(await first.status, 'O');
  first.socket.write(frame('D', Buffer.from('reset-me')));
  await until(() => first.frames.some((f) => f.kind === 'X'), () => JSON.stringify(first.frames));
  t.false(first.frames.some((f) => f.kind === 'E'));

  const second = open(`tp-capture 1 127.0.0.1 ${port}\n`);
  t.is(await second.status, 'O');
  second.socket.write(frame('D', Buffer.from('hello')));
  // (Node turns resetAndDestroy() into a FIN while a write is still in flight, so the reset waits for the data to land.)
  await until(() => serverGot.endsWith('hello'));
  second.socket.write(frame('X'));
  await until(() => serverErrors.includes('ECONNRESET'), () => serverErrors.join());
  t.deepEqual(serverErrors, ['ECONNRESET']);
});

test('a refused dial hears R', async (t) => {
  const { open } = await setUp(t, () => undefined);
  const relay = open(`tp-capture 1 127.0.0.1 ${await refusedPort()}\n`);
  t.is(await relay.status, 'R');
});

import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TpError } from '../../src/errors.js';
import { ControlCaller } from '../../src/daemon/control-caller.js';
import { ControlServer, type ControlServerLimits } from '../../src/daemon/control-server.js';
import { waitFor } from '../helpers/wait-for.js';
import { trickle } from '../proxy/helpers.js';

const DEADLINE_MS = 1_000;

async function startServer(t: ExecutionContext, limits: ControlServerLimits = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'daemon.sock');
  const server = new ControlServer(socketPath, { lineDeadlineMs: DEADLINE_MS, ...limits }).handle('echo', (params) => params);
  await server.listen();
  t.teardown(() => server.close());
  return socketPath;
}

async function echo(socketPath: string, value: string): Promise<unknown> {
  const client = await ControlCaller.connect(socketPath);
  try {
    return await client.call('echo', value);
  } finally {
    client.close();
  }
}

async function openConnection(t: ExecutionContext, socketPath: string): Promise<Socket> {
  const socket = connect(socketPath);
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The next line the socket receives. */
function nextLine(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (text.includes('\n')) {
        socket.off('data', onData);
        resolve(text.slice(0, text.indexOf('\n')));
      }
    };
    socket.on('data', onData);
  });
}

test('a request line trickled a byte at a time is cut off at the line deadline; the next client is served', async (t) => {
  const socketPath = await startServer(t);
  const line = Buffer.from(JSON.stringify({ id: 1, method: 'echo', params: 'slow' }) + '\n');
  const slow = await trickle(socketPath, line, 300);
  t.true(slow.closedByServer);
  t.true(slow.sent < line.length, `sent ${slow.sent} of ${line.length} bytes before the cut`);
  t.true(slow.elapsedMs >= DEADLINE_MS);
  t.is(slow.received.length, 0);
  t.is(await echo(socketPath, 'after'), 'after');
});

test('a control connection that never sends a byte is closed at the deadline', async (t) => {
  const socketPath = await startServer(t);
  const silent = await trickle(socketPath, Buffer.alloc(0), 0);
  t.true(silent.closedByServer);
  t.true(silent.elapsedMs >= DEADLINE_MS);
});

test('between complete requests a connection may stay idle past the deadline; a started line may not', async (t) => {
  const socketPath = await startServer(t);
  const socket = await openConnection(t, socketPath);
  socket.write(JSON.stringify({ id: 1, method: 'echo', params: 'one' }) + '\n');
  t.is(await nextLine(socket), JSON.stringify({ id: 1, result: 'one' }));
  // Idle (nothing partly sent) for longer than the deadline: still open.
  await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS * 2));
  socket.write(JSON.stringify({ id: 2, method: 'echo', params: 'two' }) + '\n{"id":3,');
  t.is(await nextLine(socket), JSON.stringify({ id: 2, result: 'two' }));
  const started = Date.now();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.true(Date.now() - started >= DEADLINE_MS * 0.9, 'the half-sent third line was cut at its deadline');
});

test('past the connection cap a client gets one TP_ERR_CONTROL_BUSY line and is closed', async (t) => {
  const socketPath = await startServer(t, { maxConnections: 2, lineDeadlineMs: 60_000 });
  const first = await openConnection(t, socketPath);
  await openConnection(t, socketPath);
  const refused = await trickle(socketPath, Buffer.alloc(0), 0, 5_000);
  t.true(refused.closedByServer);
  const answer = JSON.parse(refused.received.toString()) as { id: number; error: { code: string; message: string } };
  t.is(answer.error.code, 'TP_ERR_CONTROL_BUSY');
  t.regex(answer.error.message, /already has 2 control connections open/);
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  const busy = await t.throwsAsync(client.call('echo', 'over the cap'));
  t.is((busy as TpError).code, 'TP_ERR_CONTROL_BUSY', 'the CLI shows the daemon\'s reason, not "the daemon closed the connection"');
  first.destroy();
  t.is(await waitFor('a free connection slot', () => echo(socketPath, 'again'), 10_000, 100), 'again');
});

import test from 'ava';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TpError } from '../../src/errors.js';
import { ControlCaller } from '../../src/daemon/control-caller.js';
import { MAX_CONTROL_LINE_BYTES, lineSplitter, parseControlRequest } from '../../src/daemon/control-protocol.js';
import { ControlServer } from '../../src/daemon/control-server.js';

async function startServer(t: { teardown: (fn: () => unknown) => void }): Promise<{ server: ControlServer; socketPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'daemon.sock');
  const server = new ControlServer(socketPath)
    .handle('echo', (params) => params)
    .handle('fail', () => {
      throw new TpError('TP_ERR_RUN_NO_COMMAND', 'It failed on purpose.', { hints: ['Do the other thing.'] });
    });
  await server.listen();
  t.teardown(() => server.close());
  return { server, socketPath };
}

/** Sends raw bytes on a fresh connection and collects what comes back until the server closes or answers. */
async function rawExchange(socketPath: string, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (received.endsWith('\n')) socket.end();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

test('a request gets its handler result back', async (t) => {
  const { socketPath } = await startServer(t);
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  t.deepEqual(await client.call('echo', { a: 1 }), { a: 1 });
});

test('a handler error arrives as a TpError with the same code and hints', async (t) => {
  const { socketPath } = await startServer(t);
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.call('fail'), { instanceOf: TpError });
  t.is(error?.code, 'TP_ERR_RUN_NO_COMMAND');
  t.deepEqual(error?.hints, ['Do the other thing.']);
});

test('an unknown method is answered with an error that names it', async (t) => {
  const { socketPath } = await startServer(t);
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.call('nope'), { instanceOf: TpError });
  t.is(error?.code, 'TP_ERR_CONTROL_UNKNOWN_METHOD');
  t.regex(error?.message ?? '', /"nope"/);
});

test('the control socket is only accessible to its owner', async (t) => {
  const { socketPath } = await startServer(t);
  t.is(statSync(socketPath).mode & 0o777, 0o600);
});

test('a malformed line gets an error answer and the server keeps serving', async (t) => {
  const { socketPath } = await startServer(t);
  const answer = JSON.parse(await rawExchange(socketPath, '{not json\n')) as { error: { code: string } };
  t.is(answer.error.code, 'TP_ERR_CONTROL_MALFORMED');
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  t.is(await client.call('echo', 'still here'), 'still here');
});

test('an overlong line closes that connection only', async (t) => {
  const { socketPath } = await startServer(t);
  const answer = await rawExchange(socketPath, Buffer.alloc(MAX_CONTROL_LINE_BYTES + 10, 'x'));
  t.is(answer, '');
  const client = await ControlCaller.connect(socketPath);
  t.teardown(() => client.close());
  t.is(await client.call('echo', 1), 1);
});

test('connecting when no daemon listens says the daemon is not running and how to start it', async (t) => {
  const error = await t.throwsAsync(ControlCaller.connect(join(tmpdir(), `tp-missing-${process.pid}.sock`)), { instanceOf: TpError });
  t.is(error?.code, 'TP_ERR_DAEMON_NOT_RUNNING');
  t.deepEqual(error?.hints, ['Run `tp connect` to start it.']);
});

// Found by the fuzzer (test/fuzz/corpus/control-line/utf8-cut-between-reads): each read was decoded
// on its own, so a character cut between two reads became two U+FFFD.
test('a character cut between two reads arrives whole', (t) => {
  const lines: string[] = [];
  const feed = lineSplitter((line) => lines.push(line), () => t.fail('no overflow'));
  const bytes = Buffer.from('{"id":1,"method":"connect","params":{"context":"café ✓"}}\n');
  const cut = bytes.indexOf(0xe2) + 1;
  feed(bytes.subarray(0, cut));
  feed(bytes.subarray(cut));
  t.deepEqual(lines, [bytes.toString('utf8').trimEnd()]);
  t.deepEqual(parseControlRequest(lines[0])?.params, { context: 'café ✓' });
});

test('a line that is not a request parses to nothing', (t) => {
  for (const line of ['not json', 'null', '[]', '{"id":"1","method":"status"}', '{"id":1}', '{"method":"status"}']) t.is(parseControlRequest(line), undefined, line);
  t.deepEqual(parseControlRequest('{"id":7,"method":"status"}'), { id: 7, method: 'status' });
});

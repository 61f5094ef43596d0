import test from 'ava';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRoutingTable } from '../../../src/proxy/routing.js';
import { trickle } from '../../proxy/helpers.js';
import { formatNameAnswer, NameQueryServer, parseNameQuestion, type AddressAnswer } from '../../../src/run/daemon/name-query.js';

const table = createRoutingTable({ namespace: 'default', namespaces: ['default', 'kube-system'] });

async function start(t: { teardown(fn: () => unknown): void }, resolve: (name: string, type: 'A' | 'AAAA') => Promise<AddressAnswer>) {
  const dir = mkdtempSync(join(tmpdir(), 'tp-names-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'names.sock');
  const asked: string[] = [];
  const server = new NameQueryServer({ socketPath, table: () => table, resolve: (name, type) => (asked.push(`${name} ${type}`), resolve(name, type)) });
  await server.listen();
  t.teardown(() => server.close());
  return { socketPath, asked, server };
}

function ask(socketPath: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write(line);
  });
}

const helloAnswer = async (name: string, type: 'A' | 'AAAA'): Promise<AddressAnswer> =>
  name === 'hello.default.svc.cluster.local' && type === 'A' ? { rcode: 0, answers: [{ type: 'A', address: '198.19.0.7' }] } : { rcode: name.startsWith('hello.') ? 0 : 3, answers: [] };

test('a cluster name is qualified, asked of the cluster and answered with its addresses', async (t) => {
  const { socketPath, asked } = await start(t, helloAnswer);
  t.is(await ask(socketPath, 'hello 0\n'), 'cluster 198.19.0.7\n');
  t.deepEqual(asked.sort(), ['hello.default.svc.cluster.local A', 'hello.default.svc.cluster.local AAAA']);
  t.is(await ask(socketPath, 'hello.default 4\n'), 'cluster 198.19.0.7\n');
});

test('names outside the cluster are left to the system without asking the cluster', async (t) => {
  const { socketPath, asked } = await start(t, helloAnswer);
  t.is(await ask(socketPath, 'example.com 0\n'), 'not-cluster\n');
  t.is(await ask(socketPath, 'localhost 4\n'), 'not-cluster\n');
  t.deepEqual(asked, []);
});

test('an unknown cluster name is nxdomain, a failing cluster is an error, and errors are not cached', async (t) => {
  let fail = true;
  const { socketPath } = await start(t, async (name, type) => {
    if (fail) throw new Error('tunnel down');
    return helloAnswer(name, type);
  });
  t.is(await ask(socketPath, 'hello.default 4\n'), 'error tunnel down\n');
  fail = false;
  t.is(await ask(socketPath, 'hello.default 4\n'), 'cluster 198.19.0.7\n');
  t.is(await ask(socketPath, 'nosuch.default 4\n'), 'nxdomain\n');
});

test('answers are cached for a few seconds', async (t) => {
  const { socketPath, asked } = await start(t, helloAnswer);
  await ask(socketPath, 'hello 4\n');
  await ask(socketPath, 'hello 4\n');
  t.is(asked.length, 1);
});

test('bad and oversized questions get an error line, the server lives on', async (t) => {
  const { socketPath } = await start(t, helloAnswer);
  t.is(await ask(socketPath, 'hello 9\n'), 'error bad question\n');
  t.is(await ask(socketPath, 'two words 4\n'), 'error bad question\n');
  t.is(await ask(socketPath, 'x'.repeat(1000)), 'error question too long\n');
  t.is(await ask(socketPath, 'hello 4\n'), 'cluster 198.19.0.7\n');
});

test('the socket only lets its owner in', async (t) => {
  const { socketPath } = await start(t, helloAnswer);
  t.is(statSync(socketPath).mode & 0o777, 0o600);
});

test('question and answer formats', (t) => {
  t.deepEqual(parseNameQuestion('hello.default 6'), { name: 'hello.default', family: 6 });
  t.is(parseNameQuestion('hello.default'), undefined);
  // Found by the fuzzer (test/fuzz/corpus/name-question/control-byte): \S lets control bytes through.
  t.is(parseNameQuestion('ab\x02 4'), undefined);
  t.is(parseNameQuestion('a\x7fb 0'), undefined);
  t.deepEqual(parseNameQuestion(Buffer.from('café.example 4').toString('latin1')), { name: Buffer.from('café.example').toString('latin1'), family: 4 });
  t.is(formatNameAnswer({ kind: 'error', message: 'a\nb' }), 'error a b\n');
  t.is(formatNameAnswer({ kind: 'cluster', addresses: ['1.2.3.4', 'fd00::1'] }), 'cluster 1.2.3.4 fd00::1\n');
});

test('a question trickled one byte a second is cut off 5 s after accept, though every byte is activity', async (t) => {
  const { socketPath, asked } = await start(t, helloAnswer);
  const question = Buffer.from('hello.default.svc.cluster.local 4\n');
  const slow = await trickle(socketPath, question, 1_000);
  t.true(slow.closedByServer);
  t.true(slow.sent < question.length, `sent ${slow.sent} of ${question.length} bytes before the cut`);
  t.true(slow.elapsedMs >= 5_000);
  t.deepEqual(asked, []);
  t.is(await ask(socketPath, 'hello 4\n'), formatNameAnswer({ kind: 'cluster', addresses: ['198.19.0.7'] }));
});

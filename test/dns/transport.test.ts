import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { DnsStub, type ResolveCluster } from '../../src/dns/stub.js';
import type { DnsLimits } from '../../src/dns/transport.js';
import { Packet, RCODE } from '../../src/dns/dns2-wire.js';
import { rcodeReply } from '../../src/dns/message-check.js';
import { createRoutingTable } from '../../src/proxy/routing.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { waitFor } from '../helpers/wait-for.js';
import { openConnection, trickle } from '../proxy/helpers.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'] });
const WEB = 'web.team-a.svc.cluster.local';
const DEADLINE_MS = 1_000;

const answerWeb: ResolveCluster = async (name) =>
  name === WEB ? { rcode: 0, answers: [{ type: 'A', name: WEB, ttl: 30, address: '10.96.0.5' }] } : { rcode: RCODE.NXDOMAIN, answers: [] };

async function startStub(t: ExecutionContext, limits: DnsLimits, resolveCluster: ResolveCluster = answerWeb): Promise<number> {
  const stub = new DnsStub({
    resolveCluster,
    routingTable: () => table,
    resolvers: [{ host: '127.0.0.1', port: 9 }],
    clusterTimeoutMs: 30_000,
    limits: { tcpMessageDeadlineMs: DEADLINE_MS, ...limits },
  });
  t.teardown(() => stub.destroy());
  return (await stub.listen()).udp.port;
}

function query(id: number, name = 'web'): Buffer {
  const packet = new Packet();
  packet.header.id = id;
  packet.header.rd = 1;
  packet.questions.push({ name, type: 1, class: 1 });
  return packet.toBuffer();
}

/** RFC 1035 §4.2.2 framing: the 16-bit length, then the message. */
function framed(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

async function dig(port: number, args: string[]): Promise<string> {
  const { stdout } = await execAsUser('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...args]);
  return stdout;
}

test('a TCP query trickled a byte at a time is cut off at the message deadline, though every byte is activity', async (t) => {
  const port = await startStub(t, { tcpIdleMs: 60_000 });
  const message = framed(query(7));
  const slow = await trickle(port, message, 300);
  t.true(slow.closedByServer);
  t.true(slow.sent < message.length, `sent ${slow.sent} of ${message.length} bytes before the cut`);
  t.true(slow.elapsedMs >= DEADLINE_MS, `cut after ${slow.elapsedMs} ms`);
  t.is(slow.received.length, 0);
  t.is(await dig(port, ['+tcp', '+short', 'web']), '10.96.0.5\n');
});

test('after an answered query, the first byte of the next one starts its deadline', async (t) => {
  const port = await startStub(t, { tcpIdleMs: 60_000 });
  const message = framed(query(8));
  // The whole first query, then the next one trickled: the answer comes, then the cut.
  const socket = await openConnection(t, port);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(message);
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && sent < message.length) socket.write(message.subarray(sent, ++sent));
  }, 300);
  await closed;
  clearInterval(timer);
  t.true(sent < message.length, `sent ${sent} of ${message.length} bytes of the second query`);
  t.true(Date.now() - started >= DEADLINE_MS);
  const answer = Buffer.concat(received);
  t.is(answer.readUInt16BE(0), answer.length - 2, 'exactly one framed answer');
  t.is(Packet.parse(answer.subarray(2)).header.id, 8);
});

test('a TCP connection that never sends a byte is closed when idle', async (t) => {
  const port = await startStub(t, { tcpIdleMs: 500 });
  const silent = await trickle(port, Buffer.alloc(0), 0);
  t.true(silent.closedByServer);
  t.true(silent.elapsedMs >= 500);
});

test('past the TCP connection cap a connection is closed at once; a slot frees when one closes', async (t) => {
  const port = await startStub(t, { maxTcpConnections: 2, tcpIdleMs: 60_000 });
  const first = await openConnection(t, port);
  await openConnection(t, port);
  const refused = await trickle(port, framed(query(9)), 0, 5_000);
  t.true(refused.closedByServer);
  t.is(refused.received.length, 0);
  first.destroy();
  const answer = await waitFor('a free connection slot', async () => (await dig(port, ['+tcp', '+short', 'web'])) || undefined, 10_000, 100);
  t.is(answer, '10.96.0.5\n');
});

test('past the UDP in-flight cap a query gets SERVFAIL with its question at once; the others are answered', async (t) => {
  const waiting: (() => void)[] = [];
  const held: ResolveCluster = (name, type) => new Promise((resolve) => waiting.push(() => void answerWeb(name, type).then(resolve)));
  const port = await startStub(t, { maxUdpInFlight: 2 }, held);
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  const replies = new Map<number, Buffer>();
  udp.on('message', (message) => replies.set(message.readUInt16BE(0), message));
  udp.send(query(1), port, '127.0.0.1');
  udp.send(query(2, 'api'), port, '127.0.0.1');
  await waitFor('both queries to reach the cluster hook', async () => waiting.length === 2, 10_000, 20);
  // dig checks that the answer repeats its question, as glibc's resolver does.
  t.regex(await dig(port, ['web']), /status: SERVFAIL[\s\S]*;web\.\s+IN\s+A/);
  t.is(replies.size, 0);
  for (const release of waiting) release();
  await waitFor('the held queries to be answered', async () => replies.size === 2, 10_000, 20);
  t.is(Packet.parse(replies.get(1)!).answers[0]?.address, '10.96.0.5');
  t.is(Packet.parse(replies.get(2)!).header.rcode, RCODE.NXDOMAIN);
  t.is(await dig(port, ['+short', 'web']), '10.96.0.5\n');
});

test('the over-cap reply repeats the question and header flags, and is refused for a malformed query', (t) => {
  const reply = rcodeReply(query(4242, 'web.team-a'), RCODE.SERVFAIL)!;
  const parsed = Packet.parse(reply);
  t.is(parsed.header.id, 4242);
  t.is(parsed.header.qr, 1);
  t.is(parsed.header.rd, 1);
  t.is(parsed.header.rcode, RCODE.SERVFAIL);
  t.deepEqual(parsed.questions.map((q) => q.name), ['web.team-a']);
  t.is(rcodeReply(Buffer.from('short'), RCODE.SERVFAIL), undefined);
});

import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { DnsStub, reverseNameAddress, type ResolveCluster } from '../../src/dns/stub.js';
import { dns2, Packet, RCODE, RR_TYPE, toWireResource, type DnsRecord, type WirePacket } from '../../src/dns/dns2-wire.js';
import { checkQuery } from '../../src/dns/message-check.js';
import { parseResolvConf } from '../../src/dns/forwarder.js';
import type { ClusterAnswer } from '../../src/dns/answer-cache.js';
import { createRoutingTable } from '../../src/proxy/routing.js';
import { formatIp } from '../../src/net/cidr.js';
import { execAsUser } from '../helpers/unprivileged.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'] });
const WEB = 'web.team-a.svc.cluster.local';

const clusterRecords: Record<string, ClusterAnswer> = {
  [`${WEB}|A`]: { rcode: 0, answers: [{ type: 'A', name: WEB, ttl: 30, address: '10.96.0.5' }] },
  [`${WEB}|AAAA`]: { rcode: 0, answers: [{ type: 'AAAA', name: WEB, ttl: 30, address: 'fd00:10:96::5' }] },
  [`${WEB}|TXT`]: { rcode: 0, answers: [{ type: 'TXT', name: WEB, ttl: 30, text: ['hello from the cluster'] }] },
  [`alias.team-a.svc.cluster.local|CNAME`]: { rcode: 0, answers: [{ type: 'CNAME', name: 'alias.team-a.svc.cluster.local', ttl: 30, target: WEB }] },
  [`_http._tcp.${WEB}|SRV`]: { rcode: 0, answers: [{ type: 'SRV', name: `_http._tcp.${WEB}`, ttl: 30, priority: 0, weight: 100, port: 8080, target: WEB }] },
  ['5.0.96.10.in-addr.arpa|PTR']: { rcode: 0, answers: [{ type: 'PTR', name: '5.0.96.10.in-addr.arpa', ttl: 30, target: WEB }] },
};

interface Fixture {
  port: number;
  calls: string[];
}

/** A resolver on 127.0.0.1 (dns2, UDP and TCP) that knows one name, standing in for the system's. */
async function startUpstream(t: ExecutionContext): Promise<number> {
  const handle = (request: WirePacket, send: (r: WirePacket) => unknown): void => {
    const response = Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    if (question.name === 'outside.example' && question.type === 1) {
      response.answers.push({ name: question.name, type: 1, class: 1, ttl: 60, address: '192.0.2.7' });
    } else {
      response.header.rcode = RCODE.NXDOMAIN;
    }
    send(response);
  };
  // UDP picks the port; TCP must then get the same one, which another process may hold: retry.
  for (let attempt = 0; ; attempt++) {
    const udp = new dns2.UDPServer({ type: 'udp4' });
    udp.on('request', handle);
    await udp.listen(0, '127.0.0.1');
    const port = udp.address().port;
    const tcp = new dns2.TCPServer();
    tcp.on('request', handle);
    const bound = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) {
      udp.close();
      if (attempt < 10) continue;
      throw new Error('no port free for both UDP and TCP');
    }
    t.teardown(() => new Promise<void>((resolve) => {
      udp.close();
      tcp.close(() => resolve());
    }));
    return port;
  }
}

async function startStub(t: ExecutionContext, options: { resolveCluster?: ResolveCluster; upstreamPort?: number; forwardTimeoutMs?: number; clusterTimeoutMs?: number } = {}): Promise<Fixture> {
  const calls: string[] = [];
  const resolveCluster: ResolveCluster = options.resolveCluster ?? (async (name, type) => {
    calls.push(`${name}|${type}`);
    return clusterRecords[`${name}|${type}`] ?? { rcode: RCODE.NXDOMAIN, answers: [] };
  });
  const stub = new DnsStub({
    resolveCluster,
    routingTable: () => table,
    resolvers: [{ host: '127.0.0.1', port: options.upstreamPort ?? 9 }],
    forwardTimeoutMs: options.forwardTimeoutMs ?? 1_000,
    clusterTimeoutMs: options.clusterTimeoutMs ?? 1_000,
  });
  t.teardown(() => stub.destroy());
  const addresses = await stub.listen();
  t.is(addresses.udp.port, addresses.tcp.port);
  t.is(addresses.udp.address, '127.0.0.1');
  t.is(addresses.tcp.address, '127.0.0.1');
  return { port: addresses.udp.port, calls };
}

async function dig(port: number, args: string[]): Promise<string> {
  const { stdout } = await execAsUser('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...args]);
  return stdout;
}

test('a short cluster name is answered through the hook, under the name as asked, over UDP and TCP', async (t) => {
  const stub = await startStub(t);
  const udp = await dig(stub.port, ['web', 'A', '+noall', '+answer']);
  t.regex(udp, /^web\.\s+30\s+IN\s+A\s+10\.96\.0\.5$/m);
  const tcp = await dig(stub.port, ['+tcp', 'web.team-a', 'AAAA', '+noall', '+answer']);
  t.regex(tcp, /^web\.team-a\.\s+\d+\s+IN\s+AAAA\s+fd00:10:96::5$/m);
  t.deepEqual(stub.calls, [`${WEB}|A`, `${WEB}|AAAA`]);
});

test('SRV, TXT, CNAME and PTR for cluster names and cluster addresses', async (t) => {
  const stub = await startStub(t);
  t.is(await dig(stub.port, ['+short', `_http._tcp.${WEB}`, 'SRV']), `0 100 8080 ${WEB}.\n`);
  t.is(await dig(stub.port, ['+short', WEB, 'TXT']), '"hello from the cluster"\n');
  t.is(await dig(stub.port, ['+short', 'alias', 'CNAME']), `${WEB}.\n`);
  t.is(await dig(stub.port, ['+short', '-x', '10.96.0.5']), `${WEB}.\n`);
  t.true(stub.calls.includes('5.0.96.10.in-addr.arpa|PTR'));
});

test('a second question is answered from the cache: the hook is called once, the TTL counts down', async (t) => {
  const stub = await startStub(t);
  await dig(stub.port, ['+short', 'web']);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const second = await dig(stub.port, ['web', '+noall', '+answer']);
  t.regex(second, /^web\.\s+(29|28)\s+IN\s+A\s+10\.96\.0\.5$/m);
  t.deepEqual(stub.calls, [`${WEB}|A`]);
});

test('NXDOMAIN from the cluster is cached briefly (negative caching)', async (t) => {
  const stub = await startStub(t);
  t.regex(await dig(stub.port, ['missing.team-a']), /status: NXDOMAIN/);
  t.regex(await dig(stub.port, ['+tcp', 'missing.team-a']), /status: NXDOMAIN/);
  t.deepEqual(stub.calls, ['missing.team-a.svc.cluster.local|A']);
});

test('other names are forwarded to the upstream resolver and relayed, over UDP and TCP; the hook is not asked', async (t) => {
  const upstreamPort = await startUpstream(t);
  const stub = await startStub(t, { upstreamPort });
  t.is(await dig(stub.port, ['+short', 'outside.example']), '192.0.2.7\n');
  t.is(await dig(stub.port, ['+tcp', '+short', 'outside.example']), '192.0.2.7\n');
  t.regex(await dig(stub.port, ['nowhere.example']), /status: NXDOMAIN/);
  t.deepEqual(stub.calls, []);
});

test('a question over TCP reaches an upstream that takes no TCP over UDP', async (t) => {
  const udpOnly = await udpOnlyUpstream(t);
  const stub = await startStub(t, { upstreamPort: udpOnly });
  t.is(await dig(stub.port, ['+tcp', '+short', 'outside.example']), '192.0.2.8\n');
});

/**
 * An upstream answering over UDP only, on a port where nothing listens over TCP: binding that TCP
 * port proves so, and closing it leaves a refusal. Another process may hold the TCP port (the
 * unit tests run in parallel), so a few tries, each on a fresh UDP port.
 */
async function udpOnlyUpstream(t: ExecutionContext): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const udpOnly = new dns2.UDPServer({ type: 'udp4' });
    udpOnly.on('request', (request: WirePacket, send: (response: WirePacket) => unknown) => {
      const response = Packet.createResponseFromRequest(request);
      response.answers.push({ name: request.questions[0].name, type: 1, class: 1, ttl: 60, address: '192.0.2.8' });
      send(response);
    });
    await udpOnly.listen(0, '127.0.0.1');
    const port = udpOnly.address().port;
    const probe = createServer();
    const bound = await new Promise<boolean>((resolve) => probe.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => resolve(true)));
    if (bound) {
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      t.teardown(() => udpOnly.close());
      return port;
    }
    udpOnly.close();
    if (attempt === 9) throw new Error('no UDP port whose TCP twin is free');
  }
}

test('a silent upstream and a slow cluster both give SERVFAIL quickly', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const stub = await startStub(t, {
    upstreamPort: silent.address().port,
    forwardTimeoutMs: 300,
    clusterTimeoutMs: 300,
    resolveCluster: () => new Promise(() => undefined),
  });
  t.regex(await dig(stub.port, ['outside.example']), /status: SERVFAIL/);
  t.regex(await dig(stub.port, ['web']), /status: SERVFAIL/);
});

test('garbage packets are dropped and the stub answers the next question, over UDP and TCP', async (t) => {
  const stub = await startStub(t);
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  for (const garbage of [Buffer.from('hello'), Buffer.alloc(0), Buffer.from('ffffffffffffffffffffffffffffffff', 'hex'), Buffer.alloc(600, 0xc0)]) {
    await new Promise<void>((resolve) => udp.send(garbage, stub.port, '127.0.0.1', () => resolve()));
  }
  const tcp = connect({ host: '127.0.0.1', port: stub.port });
  tcp.on('error', () => undefined);
  tcp.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]));
  await new Promise((resolve) => tcp.once('close', resolve));
  t.is(await dig(stub.port, ['+short', 'web']), '10.96.0.5\n');
  t.is(await dig(stub.port, ['+tcp', '+short', 'web']), '10.96.0.5\n');
});

test('a question with two names gets FORMERR', async (t) => {
  const stub = await startStub(t);
  const query = new Packet();
  query.header.id = 4242;
  query.questions.push({ name: 'web', type: 1, class: 1 }, { name: 'api', type: 1, class: 1 });
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  const reply = new Promise<Buffer>((resolve) => udp.once('message', resolve));
  udp.send(query.toBuffer(), stub.port, '127.0.0.1');
  const response = Packet.parse(await reply);
  t.is(response.header.id, 4242);
  t.is(response.header.rcode, RCODE.FORMERR);
});

test('reverse names map to the addresses they stand for', (t) => {
  t.is(formatIp(reverseNameAddress('5.0.96.10.in-addr.arpa.')!), '10.96.0.5');
  const v6 = 'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa';
  t.is(formatIp(reverseNameAddress(v6)!), 'fd00:10:96:0:0:0:0:a');
  t.is(reverseNameAddress('0.96.10.in-addr.arpa'), undefined);
  t.is(reverseNameAddress('web.team-a'), undefined);
});

test('records of every supported type encode into a packet dns2 reads back with the same data', (t) => {
  const records: DnsRecord[] = Object.values(clusterRecords).flatMap((answer) => answer.answers);
  const packet = new Packet();
  packet.header.qr = 1;
  packet.answers = records.map((record) => toWireResource(record, record.name));
  const parsed = Packet.parse(packet.toBuffer()).answers;
  t.is(parsed.length, records.length);
  t.deepEqual(parsed.map((r) => [r.name, r.type, r.ttl]), records.map((r) => [r.name, RR_TYPE[r.type], 30]));
  t.is(parsed[0].address, '10.96.0.5');
  t.is(parsed[1].address, 'fd00:10:96::5');
  t.is(parsed[2].data, 'hello from the cluster');
  t.is(parsed[3].domain, WEB);
  t.like(parsed[4], { priority: 0, weight: 100, port: 8080, target: WEB });
  t.is(parsed[5].domain, WEB);
});

test('a query claiming 65,535 questions gets FORMERR without dns2 parsing it', async (t) => {
  const stub = await startStub(t);
  const bomb = Buffer.from('abcd0100ffff000000000000ffffffff', 'hex');
  t.like(checkQuery(bomb), { ok: false, reply: 'formerr' });
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  const reply = new Promise<Buffer>((resolve) => udp.once('message', resolve));
  udp.send(bomb, stub.port, '127.0.0.1');
  const response = await reply;
  t.is(response.readUInt16BE(0), 0xabcd);
  t.is(response.readUInt16BE(2) & 0x800f, 0x8001, 'a response with rcode FORMERR');
  t.is(await dig(stub.port, ['+short', 'web']), '10.96.0.5\n');
});

test('the query check accepts what dig sends and rejects compressed or overlong names', (t) => {
  const query = new Packet();
  query.header.id = 1;
  query.questions.push({ name: 'web.team-a', type: 1, class: 1 });
  t.deepEqual(checkQuery(query.toBuffer()), { ok: true });
  const pointer = Buffer.from('000101000001000000000000c00c00010001', 'hex');
  t.like(checkQuery(pointer), { ok: false, reply: 'formerr' });
  const long = Buffer.concat([Buffer.from('000101000001000000000000', 'hex'), ...new Array(5).fill(Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]);
  t.like(checkQuery(long), { ok: false, reply: 'formerr' });
  // Found by fuzzing (test/fuzz/corpus/dns-query/name-256-octets): 255 bytes of labels plus the root label is 256 octets, one too many.
  const labels = (...sizes: number[]): Buffer => Buffer.concat(sizes.map((size) => Buffer.concat([Buffer.from([size]), Buffer.alloc(size, 0x61)])));
  const withName = (name: Buffer): Buffer => Buffer.concat([Buffer.from('000101000001000000000000', 'hex'), name, Buffer.from([0, 0, 1, 0, 1])]);
  t.like(checkQuery(withName(labels(63, 63, 63, 62))), { ok: false, reply: 'formerr' });
  t.deepEqual(checkQuery(withName(labels(63, 63, 63, 61))), { ok: true });
  t.is(Packet.parse(withName(labels(63, 63, 63, 61))).questions.length, 1);
  t.like(checkQuery(Buffer.from('0001810000010000000000000000010001', 'hex')), { ok: false, reply: 'drop' });
  t.like(checkQuery(Buffer.from('abc')), { ok: false, reply: 'drop' });
});

test('close() and destroy() are idempotent and free the port', async (t) => {
  const stub = new DnsStub({ resolveCluster: async () => ({ rcode: 0, answers: [] }), resolvers: [] });
  const { udp } = await stub.listen();
  const tcp = connect({ host: '127.0.0.1', port: udp.port });
  tcp.on('error', () => undefined);
  await new Promise((resolve) => tcp.once('connect', resolve));
  const closed = new Promise((resolve) => tcp.once('close', resolve));
  await Promise.all([stub.close(), stub.close(), stub.destroy()]);
  await closed;
  const again = new DnsStub({ resolveCluster: async () => ({ rcode: 0, answers: [] }), resolvers: [], port: udp.port });
  t.teardown(() => again.destroy());
  t.is((await again.listen()).tcp.port, udp.port);
});

test('resolv.conf nameserver lines become resolvers on port 53', (t) => {
  t.deepEqual(parseResolvConf('# comment\nsearch corp.example\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:5\n'), [
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1', port: 53 },
  ]);
});

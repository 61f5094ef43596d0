// Docker mode's DNS stub on the host, with real parts: the door (startDnsDoor) hands each query to a
// real daemon-side chain, the capture listener's Unix socket and a DnsStub behind it, as the daemon
// in the container runs them; dig asks over UDP and TCP. An answer too big for UDP comes back cut
// with TC set (dig then asks over TCP), garbage is dropped or FORMERR with the door living on, and a
// daemon that is not there is SERVFAIL. Who may ask is the owner gate's (test/proxy/owner-gate.test.ts;
// the e2e suite asks as a second user).
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { askDaemon, companionGate, startDnsDoor } from '../../src/docker/dns-door.js';
import { DnsStub } from '../../src/dns/stub.js';
import { dns2, Packet, RCODE, type WirePacket } from '../../src/dns/dns2-wire.js';
import { truncatedReply } from '../../src/dns/message-check.js';
import { createDirectDial } from '../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { CaptureListener } from '../../src/run/daemon/capture-listener.js';

const run = promisify(execFile);
const WEB = 'web.team-a.svc.cluster.local';
const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12'] });
/** Enough TXT strings that the answer passes 512 bytes. */
const LONG_TEXT = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(100));

async function startDaemonSide(t: ExecutionContext, dir: string): Promise<string> {
  const stub = new DnsStub({
    routingTable: () => table,
    resolvers: [],
    resolveCluster: async (name, type) => {
      if (name !== WEB) return { rcode: RCODE.NXDOMAIN, answers: [] };
      if (type === 'TXT') return { rcode: 0, answers: [{ type: 'TXT', name, ttl: 30, text: LONG_TEXT }] };
      return { rcode: 0, answers: type === 'A' ? [{ type: 'A', name, ttl: 30, address: '10.96.0.5' }] : [] };
    },
  });
  const dnsPort = (await stub.listen()).tcp.port;
  const socketPath = join(dir, 'daemon.capture.sock');
  const capture = new CaptureListener({ socketPath, dnsPort, dial: createDirectDial(), route: (target) => decideRoute(target, table) });
  await capture.listen();
  t.teardown(async () => {
    await capture.close();
    await stub.destroy();
  });
  return socketPath;
}

async function startDoor(t: ExecutionContext, captureSocket: string, dir: string): Promise<number> {
  const { listeners, addresses } = await startDnsDoor({ captureSocket, port: 0, gate: await companionGate(dir, {}) });
  t.teardown(() => listeners.destroy());
  t.is(addresses.udp.address, '127.0.0.1');
  return addresses.udp.port;
}

async function dig(port: number, args: string[]): Promise<string> {
  return (await run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=5', ...args], { encoding: 'utf8' })).stdout;
}

function folder(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tp-dns-door-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a cluster name is answered by the daemon behind the capture socket, over UDP and TCP, under the name as asked', async (t) => {
  const dir = folder(t);
  const port = await startDoor(t, await startDaemonSide(t, dir), dir);
  t.regex(await dig(port, ['web', 'A', '+noall', '+answer']), /^web\.\s+30\s+IN\s+A\s+10\.96\.0\.5$/m);
  t.regex(await dig(port, ['+tcp', WEB, 'A', '+noall', '+answer']), /^web\.team-a\.svc\.cluster\.local\.\s+\d+\s+IN\s+A\s+10\.96\.0\.5$/m);
  t.regex(await dig(port, ['nothing.team-a.svc.cluster.local', 'A']), /status: NXDOMAIN/);
});

test('an answer too big for UDP comes back with TC set and only its question; over TCP whole', async (t) => {
  const dir = folder(t);
  const port = await startDoor(t, await startDaemonSide(t, dir), dir);
  const cut = await dig(port, ['+notcp', '+ignore', '+noedns', WEB, 'TXT']);
  t.regex(cut, /flags: qr[^;]*\btc\b/);
  t.regex(cut, /ANSWER: 0,/);
  const whole = await dig(port, ['+tcp', '+short', WEB, 'TXT']);
  t.is(whole.trim().split('\n').length, 1);
  for (const text of LONG_TEXT) t.true(whole.includes(text));
});

test('garbage is dropped or FORMERR, and the door goes on answering', async (t) => {
  const dir = folder(t);
  const port = await startDoor(t, await startDaemonSide(t, dir), dir);
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  const replies: Buffer[] = [];
  udp.on('message', (message) => replies.push(message));
  // Too short to be DNS (dropped); two questions (FORMERR); a response (dropped).
  const twoQuestions = Buffer.from([0x12, 0x34, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
  const response = Buffer.from([0x56, 0x78, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
  for (const packet of [Buffer.from('junk'), twoQuestions, response]) udp.send(packet, port, '127.0.0.1');
  t.regex(await dig(port, ['+short', WEB]), /^10\.96\.0\.5$/m);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(replies.length, 1);
  t.is(replies[0].readUInt16BE(0), 0x1234);
  t.is(replies[0].readUInt16BE(2) & 0x000f, RCODE.FORMERR);
});

test('with the daemon\'s routing, a name that is not the cluster\'s goes to this machine\'s resolver, over the asker\'s transport; cluster names still to the daemon', async (t) => {
  const dir = folder(t);
  const asked: string[] = [];
  const handle = (request: WirePacket, send: (response: WirePacket) => unknown): void => {
    asked.push(request.questions[0].name);
    const response = Packet.createResponseFromRequest(request);
    response.answers.push({ name: request.questions[0].name, type: 1, class: 1, ttl: 60, address: '192.0.2.7' });
    send(response);
  };
  // One resolver address for both transports: UDP takes a free port, TCP the same number, and
  // another test's socket may hold that TCP port (EADDRINUSE), so a few tries.
  let udp: InstanceType<typeof dns2.UDPServer> | undefined;
  let tcp: InstanceType<typeof dns2.TCPServer> | undefined;
  for (let attempt = 0; !tcp; attempt++) {
    udp = new dns2.UDPServer({ type: 'udp4' });
    udp.on('request', handle);
    await udp.listen(0, '127.0.0.1');
    const candidate = new dns2.TCPServer();
    candidate.on('request', handle);
    try {
      await new Promise<void>((resolve, reject) => candidate.once('error', reject).listen(udp!.address().port, '127.0.0.1', () => resolve()));
      tcp = candidate;
    } catch (error) {
      udp.close();
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 9) throw error;
    }
  }
  const resolver = { udp: udp!, tcp };
  t.teardown(() => {
    resolver.udp.close();
    resolver.tcp.close();
  });
  const captureSocket = await startDaemonSide(t, dir);
  const { listeners, addresses } = await startDnsDoor({ captureSocket, port: 0, gate: await companionGate(dir, {}), table: () => table, resolvers: [{ host: '127.0.0.1', port: resolver.udp.address().port }] });
  t.teardown(() => listeners.destroy());
  const port = addresses.udp.port;
  t.is((await dig(port, ['+short', 'outside.example'])).trim(), '192.0.2.7');
  t.is((await dig(port, ['+short', '+tcp', 'outside.example'])).trim(), '192.0.2.7');
  t.is((await dig(port, ['+short', 'web'])).trim(), '10.96.0.5');
  t.deepEqual(asked, ['outside.example', 'outside.example']);
});

test('no daemon behind the capture socket: SERVFAIL, and the hand-over says why', async (t) => {
  const dir = folder(t);
  const port = await startDoor(t, join(dir, 'nobody.sock'), dir);
  t.regex(await dig(port, [WEB, 'A']), /status: SERVFAIL/);
  await t.throwsAsync(askDaemon(join(dir, 'nobody.sock'), Buffer.alloc(12), 1000), { message: /cannot reach the daemon's capture socket/ });
});

test('truncatedReply keeps the answer\'s header with TC and the query\'s question, and nothing else', (t) => {
  const query = Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x65, 0x62, 0, 0, 16, 0, 1]);
  const answer = Buffer.concat([Buffer.from([0xab, 0xcd, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), Buffer.alloc(600)]);
  const cut = truncatedReply(query, answer)!;
  t.is(cut.length, query.length);
  t.is(cut.readUInt16BE(2), 0x8780);
  t.deepEqual([cut.readUInt16BE(4), cut.readUInt16BE(6), cut.readUInt16BE(8), cut.readUInt16BE(10)], [1, 0, 0, 0]);
  t.deepEqual(cut.subarray(12), query.subarray(12));
  t.is(truncatedReply(Buffer.from('junk'), answer), undefined);
});

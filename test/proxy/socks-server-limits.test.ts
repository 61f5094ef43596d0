import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { SocksServer, type SocksServerOptions } from '../../src/proxy/socks-server.js';
import { DialError, SOCKS_REPLY } from '../../src/proxy/dial.js';
import { checkHost } from '../../src/proxy/host-name.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { encodeGreeting, encodeRequest, SOCKS_ATYP, SOCKS_COMMAND, SOCKS_VERSION } from '../../src/proxy/socks5-protocol.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { clusterDial, openConnection, rawExchange, servedOnceClosed, startLabelledServer, trickle, type RecordedDial } from './helpers.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'] });
const DEADLINE_MS = 1_000;

async function startSocks(t: ExecutionContext, dial: RecordedDial, options: SocksServerOptions = {}): Promise<number> {
  const server = new SocksServer({ route: (target) => decideRoute(target, table), dial: dial.dial, handshakeTimeoutMs: DEADLINE_MS, ...options });
  t.teardown(() => server.destroy());
  return (await server.listen()).port;
}

async function curlThrough(port: number, url: string): Promise<string> {
  const { stdout } = await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${port}`, url]);
  return stdout;
}

/** A CONNECT request with raw domain-name bytes (encodeRequest would refuse some of them). */
function domainRequest(name: Buffer, port = 80): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([SOCKS_VERSION, SOCKS_COMMAND.CONNECT, 0x00, SOCKS_ATYP.DOMAIN, name.length]), name, portBytes]);
}

test('a client trickling its greeting and request a byte at a time is cut off at the handshake deadline', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  const handshake = Buffer.concat([encodeGreeting([0x00]), encodeRequest(SOCKS_COMMAND.CONNECT, 'web.team-a', 80)]);
  const slow = await trickle(port, handshake, 300);
  t.true(slow.closedByServer);
  t.true(slow.sent < handshake.length, `sent ${slow.sent} of ${handshake.length} bytes before the cut`);
  t.true(slow.elapsedMs >= DEADLINE_MS, `cut after ${slow.elapsedMs} ms`);
  t.deepEqual(dial.calls, []);
  t.is(await curlThrough(port, 'http://web.team-a/after'), 'cluster GET web.team-a/after\n');
});

test('a connection that never sends a byte is closed at the handshake deadline', async (t) => {
  const port = await startSocks(t, clusterDial(1));
  const silent = await trickle(port, Buffer.alloc(0), 0);
  t.true(silent.closedByServer);
  t.true(silent.elapsedMs >= DEADLINE_MS);
  t.is(silent.received.length, 0);
});

test('the deadline covers the handshake only: a dial slower than it still connects', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const inner = clusterDial(cluster.port);
  const slowDial: RecordedDial = {
    calls: inner.calls,
    dial: async (target, context) => {
      await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS * 1.5));
      return inner.dial(target, context);
    },
  };
  const port = await startSocks(t, slowDial);
  t.is(await curlThrough(port, 'http://web.team-a/slow'), 'cluster GET web.team-a/slow\n');
});

test('past the connection cap a client gets reply 0x01 at once, and is served again once one closes', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startSocks(t, clusterDial(cluster.port), { maxConnections: 2, handshakeTimeoutMs: 60_000 });
  const first = await openConnection(t, port);
  await openConnection(t, port);
  const refused = await rawExchange(port, [encodeGreeting([0x00]), encodeRequest(SOCKS_COMMAND.CONNECT, 'web.team-a', 80)]);
  t.deepEqual(Array.from(refused.subarray(0, 4)), [SOCKS_VERSION, 0x00, SOCKS_VERSION, SOCKS_REPLY.GENERAL_FAILURE]);
  const error = await t.throwsAsync(curlThrough(port, 'http://web.team-a/full'));
  t.regex(error.message, /Can't complete SOCKS5 connection.*\(1\)/);
  const again = await servedOnceClosed(first, () => curlThrough(port, 'http://web.team-a/again'));
  t.is(again, 'cluster GET web.team-a/again\n');
});

test('bad domain names get reply 0x04 without a dial; good ones are dialled', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startSocks(t, dial);
  for (const name of ['web\r\nforged log line', 'web\x1b[31m.team-a', '-web.team-a', 'a..b', 'web team-a', '1.2.3', 'x'.repeat(64) + '.team-a']) {
    const reply = await rawExchange(port, [encodeGreeting([0x00]), domainRequest(Buffer.from(name, 'latin1'))]);
    t.deepEqual(Array.from(reply.subarray(0, 4)), [SOCKS_VERSION, 0x00, SOCKS_VERSION, SOCKS_REPLY.HOST_UNREACHABLE], JSON.stringify(name));
  }
  t.deepEqual(dial.calls, []);
  t.is(await curlThrough(port, 'http://_http._tcp.web.team-a.svc.cluster.local/srv-style'), 'cluster GET _http._tcp.web.team-a.svc.cluster.local/srv-style\n');
  t.is(dial.calls.length, 1);
});

test('property: a domain name is dialled exactly when the shared validator accepts it', async (t) => {
  const dialled: string[] = [];
  const refusingDial: RecordedDial = {
    calls: [],
    dial: (target) => {
      dialled.push(target.host);
      return Promise.reject(new DialError('TP_ERR_DIAL_REFUSED', target, 'refused by the test'));
    },
  };
  const port = await startSocks(t, refusingDial);
  const nameBytes = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ unit: fc.constantFrom(...'ab-_.0\x00 %'), minLength: 1, maxLength: 20 }).map((text) => Buffer.from(text, 'latin1')),
  );
  await fc.assert(
    fc.asyncProperty(nameBytes, async (name) => {
      const before = dialled.length;
      const reply = await rawExchange(port, [encodeGreeting([0x00]), domainRequest(name)]);
      const accepted = checkHost(name.toString('latin1')).ok;
      const expected = accepted ? SOCKS_REPLY.CONNECTION_REFUSED : SOCKS_REPLY.HOST_UNREACHABLE;
      return dialled.length === before + (accepted ? 1 : 0) && reply[3] === expected;
    }),
    { numRuns: 40 },
  );
  const reply = await rawExchange(port, [encodeGreeting([0x00]), domainRequest(Buffer.from('web.team-a'))]);
  t.is(reply[3], SOCKS_REPLY.CONNECTION_REFUSED, 'the server still answers after the run');
});

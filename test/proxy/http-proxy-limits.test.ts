import test, { type ExecutionContext } from 'ava';
import { connect, type Socket } from 'node:net';
import { HttpProxyServer, type HttpProxyServerOptions } from '../../src/proxy/http-proxy.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { waitFor } from '../helpers/wait-for.js';
import { clusterDial, openConnection, rawExchange, servedOnceClosed, startLabelledServer, trickle, type RecordedDial } from './helpers.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'] });
const DEADLINE_MS = 1_000;
const PAC = 'function FindProxyForURL(url, host) { return "DIRECT"; }\n';

async function startProxy(t: ExecutionContext, dial: RecordedDial, options: HttpProxyServerOptions = {}): Promise<number> {
  const proxy = new HttpProxyServer({ route: (target) => decideRoute(target, table), dial: dial.dial, headDeadlineMs: DEADLINE_MS, pacFile: () => PAC, ...options });
  t.teardown(() => proxy.destroy());
  return (await proxy.listen()).port;
}

async function curlThrough(port: number, url: string): Promise<string> {
  const { stdout } = await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', '-x', `http://127.0.0.1:${port}`, url]);
  return stdout;
}

/** Collects what a socket receives until the server has sent a complete `status` response head and body. */
function readUntil(socket: Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (pattern.test(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
  });
}

test('request heads trickled a byte at a time are cut off with 408 at the deadline: absolute-form, CONNECT and the PAC file', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startProxy(t, dial);
  const heads = [
    'GET http://web.team-a/slow HTTP/1.1\r\nHost: web.team-a\r\n\r\n',
    'CONNECT web.team-a:80 HTTP/1.1\r\nHost: web.team-a:80\r\n\r\n',
    'GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  ];
  const results = await Promise.all(heads.map((head) => trickle(port, Buffer.from(head), 300)));
  for (const [i, slow] of results.entries()) {
    t.true(slow.closedByServer, heads[i]);
    t.true(slow.sent < heads[i].length, `sent ${slow.sent} of ${heads[i].length} bytes before the cut`);
    t.true(slow.elapsedMs >= DEADLINE_MS, `cut after ${slow.elapsedMs} ms`);
    t.regex(slow.received.toString(), /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*did not arrive within 1000 ms/);
  }
  t.deepEqual(dial.calls, []);
  t.is(await curlThrough(port, 'http://web.team-a/after'), 'cluster GET web.team-a/after\n');
});

test('a connection that never sends a byte is closed at the head deadline', async (t) => {
  const port = await startProxy(t, clusterDial(1));
  const silent = await trickle(port, Buffer.alloc(0), 0);
  t.true(silent.closedByServer);
  t.true(silent.elapsedMs >= DEADLINE_MS);
});

test('on a keep-alive connection the next head has the same deadline from its first byte', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startProxy(t, clusterDial(cluster.port));
  const socket = await openConnection(t, port);
  socket.write('GET http://web.team-a/first HTTP/1.1\r\nHost: web.team-a\r\n\r\n');
  t.regex(await readUntil(socket, /cluster GET web\.team-a\/first\n$/), /^HTTP\/1\.1 200 /);
  const next = Buffer.from('GET http://web.team-a/second HTTP/1.1\r\nHost: web.team-a\r\n\r\n');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const received = readUntil(socket, /408/).catch(() => '');
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && !socket.writableEnded && sent < next.length) socket.write(next.subarray(sent, ++sent));
  }, 300);
  await closed;
  clearInterval(timer);
  t.true(sent < next.length, `sent ${sent} of ${next.length} bytes before the cut`);
  t.true(Date.now() - started >= DEADLINE_MS);
  t.regex(await received, /^HTTP\/1\.1 408 /);
});

test('the deadline is for heads only: a CONNECT tunnel stays open and working past it', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startProxy(t, clusterDial(cluster.port));
  const socket = await openConnection(t, port);
  socket.write('CONNECT web.team-a:80 HTTP/1.1\r\nHost: web.team-a:80\r\n\r\n');
  t.regex(await readUntil(socket, /\r\n\r\n$/), /^HTTP\/1\.1 200 /);
  // Outlive the head deadline (and its check interval) before using the tunnel.
  await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS * 2));
  socket.write('GET /late HTTP/1.1\r\nHost: web.team-a\r\n\r\n');
  t.regex(await readUntil(socket, /cluster GET web\.team-a\/late\n$/), /^HTTP\/1\.1 200 /);
});

test('past the connection cap a client gets 503 with a body, and is served again once one closes', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startProxy(t, clusterDial(cluster.port), { maxConnections: 2, headDeadlineMs: 60_000 });
  const first = await openConnection(t, port);
  await openConnection(t, port);
  const refused = (await rawExchange(port, [Buffer.from('GET http://web.team-a/full HTTP/1.1\r\nHost: web.team-a\r\n\r\n')])).toString();
  t.regex(refused, /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*\r\n\r\ntp proxy: too many connections \(2 open/);
  t.is(cluster.requests.length, 0);
  const again = await servedOnceClosed(first, () => curlThrough(port, 'http://web.team-a/again'));
  t.is(again, 'cluster GET web.team-a/again\n');
});

test('bad host names in CONNECT and absolute-form URLs get 400 with a reason, without a dial', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = clusterDial(cluster.port);
  const port = await startProxy(t, dial);
  for (const authority of ['bad!name:443', '-web.team-a:443', 'a..b:443', '1.2.3:443', `${'x'.repeat(64)}.team-a:443`]) {
    const answer = (await rawExchange(port, [Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)])).toString();
    t.regex(answer, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*CONNECT host is not a valid host name/, authority);
  }
  for (const url of ['http://bad!name/', 'http://-web.team-a/', 'http://web_.team-a$/', `http://${'x'.repeat(64)}.team-a/`]) {
    const answer = (await rawExchange(port, [Buffer.from(`GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)])).toString();
    t.regex(answer, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*URL's host is not a valid host name/, url);
  }
  t.deepEqual(dial.calls, []);
  t.is(await curlThrough(port, 'http://my_host.team-a.svc.cluster.local/underscore'), 'cluster GET my_host.team-a.svc.cluster.local/underscore\n');
});

test('a connection slot held by a silent client is freed by the head deadline', async (t) => {
  const port = await startProxy(t, clusterDial(1), { maxConnections: 1 });
  const held = connect({ host: '127.0.0.1', port });
  held.on('error', () => undefined);
  held.resume();
  const heldClosed = new Promise<void>((resolve) => held.once('close', () => resolve()));
  // The one slot is freed by the head deadline, not by the client.
  await heldClosed;
  const pacRequest = Buffer.from('GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  const after = await waitFor('a free connection slot', async () => {
    const answer = (await rawExchange(port, [pacRequest])).toString();
    return answer.startsWith('HTTP/1.1 503 ') ? undefined : answer;
  }, 10_000, 100);
  t.regex(after, /^HTTP\/1\.1 200 OK\r\n[\s\S]*FindProxyForURL/);
});

import test, { type ExecutionContext } from 'ava';
import { HttpProxyServer, parseAuthority } from '../../src/proxy/http-proxy.js';
import { connectTcp, type Dial } from '../../src/proxy/dial.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { closedPort, clusterDial, rawExchange, startLabelledServer } from './helpers.js';
import { startTlsServer } from './tls-fixture.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12'] });

async function startProxy(t: ExecutionContext, dial: Dial): Promise<number> {
  const proxy = new HttpProxyServer({ route: (target) => decideRoute(target, table), dial });
  t.teardown(() => proxy.destroy());
  const address = await proxy.listen();
  t.is(address.address, '127.0.0.1');
  return address.port;
}

async function curl(args: string[]): Promise<string> {
  const { stdout } = await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', ...args]);
  return stdout;
}

test('two URLs in one curl reuse the client connection, each routed by its own host', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const direct = await startLabelledServer(t, 'direct');
  const dial = clusterDial(cluster.port);
  const port = await startProxy(t, dial.dial);
  const out = await curl([
    '-x', `http://127.0.0.1:${port}`, '--write-out', 'connects=%{num_connects}\\n',
    'http://web.team-a/one', 'http://web.team-a/two', `http://127.0.0.1:${direct.port}/three`,
  ]);
  t.is(out, [
    'cluster GET web.team-a/one', 'connects=1',
    'cluster GET web.team-a/two', 'connects=0',
    `direct GET 127.0.0.1:${direct.port}/three`, 'connects=0', '',
  ].join('\n'));
  t.is(cluster.connections.length, 1, 'the destination connection was kept alive between requests');
  t.deepEqual(dial.calls.map((call) => [call.target.host, call.context.via, call.context.protocol]), [
    ['web.team-a', 'cluster', 'http'],
    ['127.0.0.1', 'direct', 'http'],
  ]);
});

test('Proxy-* and hop-by-hop headers are not forwarded; end-to-end headers are', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startProxy(t, clusterDial(cluster.port).dial);
  await curl([
    '-x', `http://127.0.0.1:${port}`, '--proxy-user', 'someone:secret', '-H', 'X-Keep: yes', '-H', 'Connection: x-drop',
    '-H', 'X-Drop: no', 'http://web.team-a:8080/h',
  ]);
  const headers = cluster.requests[0].headers;
  t.is(headers.host, 'web.team-a:8080');
  t.is(headers['x-keep'], 'yes');
  t.is(headers['proxy-authorization'], undefined);
  t.is(headers['proxy-connection'], undefined);
  t.is(headers['x-drop'], undefined);
});

test('CONNECT carries TLS to a cluster name, verified with the test CA', async (t) => {
  const tls = await startTlsServer(t, 'cluster-tls', ['secure.team-a']);
  const dial = clusterDial(tls.port);
  const port = await startProxy(t, dial.dial);
  const body = await curl(['-x', `http://127.0.0.1:${port}`, '--cacert', tls.caPath, 'https://secure.team-a/tls']);
  t.is(body, 'cluster-tls secure.team-a/tls\n');
  t.deepEqual(dial.calls.map((call) => [call.target, call.context.via, call.context.protocol]), [
    [{ host: 'secure.team-a', port: 443 }, 'cluster', 'connect'],
  ]);
});

test('a refused destination is a 502 with a body a human can read, for plain HTTP and CONNECT', async (t) => {
  const deadPort = await closedPort();
  const dial: Dial = (target) => connectTcp(target);
  const port = await startProxy(t, dial);
  const { stdout } = await execAsUser('curl', ['--silent', '--include', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${deadPort}/`]);
  t.regex(stdout, /^HTTP\/1\.1 502 Bad Gateway/);
  t.regex(stdout, /content-type: text\/plain/i);
  t.regex(stdout, new RegExp(`could not connect to 127\\.0\\.0\\.1:${deadPort}: the connection was refused`));
  t.regex(stdout, /TP_ERR_DIAL_REFUSED/);
  const error = await t.throwsAsync(curl(['-x', `http://127.0.0.1:${port}`, `https://127.0.0.1:${deadPort}/`]));
  t.regex(String((error as { stderr?: string }).stderr), /CONNECT tunnel failed, response 502/);
});

test('a dial that times out is a 504 and a forbidden one a 403', async (t) => {
  const { DialError } = await import('../../src/proxy/dial.js');
  const dial: Dial = async (target) => {
    throw new DialError(target.host === 'slow' ? 'TP_ERR_DIAL_TIMEOUT' : 'TP_ERR_DIAL_FORBIDDEN', target, `could not connect to ${target.host}`);
  };
  const port = await startProxy(t, dial);
  const status = async (url: string): Promise<string> =>
    (await execAsUser('curl', ['--silent', '--output', '/dev/null', '--write-out', '%{http_code}', '-x', `http://127.0.0.1:${port}`, url])).stdout;
  t.is(await status('http://slow/'), '504');
  t.is(await status('http://nope/'), '403');
});

test('malformed requests get 400 and the proxy keeps serving', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const port = await startProxy(t, clusterDial(cluster.port).dial);
  const garbage = (await rawExchange(port, [Buffer.from('\x16\x03\x01 not http at all\r\n\r\n')])).toString();
  t.regex(garbage, /^HTTP\/1\.1 400 /);
  const badConnect = (await rawExchange(port, [Buffer.from('CONNECT no-port-here HTTP/1.1\r\nHost: x\r\n\r\n')])).toString();
  t.regex(badConnect, /^HTTP\/1\.1 400 Bad Request[\s\S]*CONNECT needs host:port/);
  const ftp = (await rawExchange(port, [Buffer.from('GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n')])).toString();
  t.regex(ftp, /^HTTP\/1\.1 400 [\s\S]*only http:\/\/ URLs/);
  const huge = (await rawExchange(port, [Buffer.from(`GET http://web/ HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)])).toString();
  t.regex(huge, /^HTTP\/1\.1 431 /);
  t.is(await curl(['-x', `http://127.0.0.1:${port}`, 'http://web/after']), 'cluster GET web/after\n');
});

test('CONNECT authority parsing accepts names, IPv4 and bracketed IPv6, and nothing else', (t) => {
  t.deepEqual(parseAuthority('web.team-a:443'), { host: 'web.team-a', port: 443 });
  t.deepEqual(parseAuthority('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
  t.deepEqual(parseAuthority('[fd00::1]:8443'), { host: 'fd00::1', port: 8443 });
  for (const bad of ['web', 'web:', 'web:0', 'web:70000', 'fd00::1:80', 'a b:80', '/path:80']) t.is(parseAuthority(bad), undefined, bad);
});

test('close() waits for an open CONNECT tunnel then destroys it; close and destroy are idempotent', async (t) => {
  const cluster = await startLabelledServer(t, 'cluster');
  const proxy = new HttpProxyServer({ route: (target) => decideRoute(target, table), dial: clusterDial(cluster.port).dial, closeTimeoutMs: 200 });
  const { port } = await proxy.listen();
  const socket = await connectTcp({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  // connectTcp's sockets are half-open; this client closes when the proxy does, as curl would.
  socket.on('end', () => socket.end());
  socket.write('CONNECT web:80 HTTP/1.1\r\nHost: web:80\r\n\r\n');
  await new Promise((resolve) => socket.once('data', resolve));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await Promise.all([proxy.close(), proxy.close(), proxy.destroy()]);
  await closed;
  t.true(socket.destroyed);
});

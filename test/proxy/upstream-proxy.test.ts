import test, { type ExecutionContext } from 'ava';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connectTcp, DialError, type Dial } from '../../src/proxy/dial.js';
import { HttpProxyServer } from '../../src/proxy/http-proxy.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { SocksServer } from '../../src/proxy/socks-server.js';
import { bypassesProxy, chooseUpstream, createUpstreamAwareDial, dialThroughProxy, parseNoProxy, readUpstreamProxyConfig } from '../../src/proxy/upstream-proxy.js';
import { execAsUser } from '../helpers/unprivileged.js';
import { clusterDial, startLabelledServer } from './helpers.js';

const table = createRoutingTable({ namespace: 'team-a' });
const route = (target: { host: string; port?: number }) => decideRoute(target, table);

interface CorporateProxy {
  port: number;
  connects: { target: string; auth: string | undefined }[];
}

/** A tiny corporate CONNECT proxy: records each CONNECT, answers `status` when not 200. */
async function startCorporateProxy(t: ExecutionContext, status = 200): Promise<CorporateProxy> {
  const connects: CorporateProxy['connects'] = [];
  const server = createServer();
  server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
    connects.push({ target: request.url ?? '', auth: request.headers['proxy-authorization'] });
    if (status !== 200) {
      client.end(`HTTP/1.1 ${status} No\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const [host, port] = (request.url ?? '').split(':');
    connectTcp({ host, port: Number(port) }).then((upstream) => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    }, () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, connects };
}

async function curl(args: string[]): Promise<string> {
  return (await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', ...args])).stdout;
}

test('direct traffic goes through the corporate HTTPS_PROXY with its credentials; NO_PROXY and cluster traffic bypass it', async (t) => {
  const corporate = await startCorporateProxy(t);
  const direct = await startLabelledServer(t, 'direct');
  const cluster = await startLabelledServer(t, 'cluster');
  const dial = createUpstreamAwareDial({
    env: { HTTPS_PROXY: `http://alice:s%40cret@127.0.0.1:${corporate.port}`, NO_PROXY: 'localhost,.bypass.example' },
    fallback: clusterDial(cluster.port).dial,
  });
  const socks = new SocksServer({ route, dial });
  t.teardown(() => socks.destroy());
  const { port } = await socks.listen();

  t.is(await curl(['--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${direct.port}/via-corp`]), `direct GET 127.0.0.1:${direct.port}/via-corp\n`);
  t.deepEqual(corporate.connects, [{ target: `127.0.0.1:${direct.port}`, auth: `Basic ${Buffer.from('alice:s@cret').toString('base64')}` }]);

  t.is(await curl(['--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${direct.port}/bypass`]), `direct GET localhost:${direct.port}/bypass\n`);
  t.is(await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web/cluster']), 'cluster GET web/cluster\n');
  t.is(corporate.connects.length, 1, 'NO_PROXY and cluster targets did not touch the corporate proxy');
});

test('plain HTTP through tp uses HTTP_PROXY for direct targets', async (t) => {
  const corporate = await startCorporateProxy(t);
  const direct = await startLabelledServer(t, 'direct');
  const dial = createUpstreamAwareDial({ env: { http_proxy: `127.0.0.1:${corporate.port}`, HTTPS_PROXY: 'http://127.0.0.1:1' } });
  const proxy = new HttpProxyServer({ route, dial });
  t.teardown(() => proxy.destroy());
  const { port } = await proxy.listen();
  t.is(await curl(['-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${direct.port}/plain`]), `direct GET 127.0.0.1:${direct.port}/plain\n`);
  t.deepEqual(corporate.connects.map((c) => c.target), [`127.0.0.1:${direct.port}`]);
});

test('a socks5h:// ALL_PROXY upstream is spoken to in SOCKS5, with the name left to it', async (t) => {
  const direct = await startLabelledServer(t, 'direct');
  const upstreamDial = clusterDial(0);
  upstreamDial.dial = ((inner: Dial): Dial => (target, context) => {
    upstreamDial.calls.push({ target, context });
    return inner({ host: '127.0.0.1', port: target.port }, context);
  })((target) => connectTcp(target));
  const upstream = new SocksServer({ route, dial: upstreamDial.dial });
  t.teardown(() => upstream.destroy());
  const upstreamAddress = await upstream.listen();
  const dial = createUpstreamAwareDial({ env: { ALL_PROXY: `socks5h://127.0.0.1:${upstreamAddress.port}` } });
  const stream = await dial({ host: 'far-away.example', port: direct.port }, { via: 'direct', client: 'test', protocol: 'socks' });
  t.teardown(() => stream.destroy());
  stream.write('GET /socks HTTP/1.1\r\nHost: far-away.example\r\nConnection: close\r\n\r\n');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  t.regex(Buffer.concat(chunks).toString(), /direct GET far-away\.example\/socks/);
  t.deepEqual(upstreamDial.calls.map((c) => c.target), [{ host: 'far-away.example', port: direct.port }]);
});

test('an upstream proxy that answers 407 makes the dial a forbidden DialError', async (t) => {
  const corporate = await startCorporateProxy(t, 407);
  const error = await t.throwsAsync(dialThroughProxy(new URL(`http://127.0.0.1:${corporate.port}`), { host: 'example.com', port: 443 }));
  t.true(error instanceof DialError);
  t.is((error as DialError).code, 'TP_ERR_DIAL_FORBIDDEN');
  t.regex(error!.message, /upstream proxy http:\/\/127\.0\.0\.1:\d+ answered 407/);
});

test('NO_PROXY entries: names cover subdomains, CIDRs, ports and *', (t) => {
  const rules = parseNoProxy('example.com, .corp.example,10.0.0.0/8 ,[::1], 192.168.1.1:8080');
  t.true(bypassesProxy({ host: 'example.com', port: 80 }, rules));
  t.true(bypassesProxy({ host: 'api.example.com.', port: 80 }, rules));
  t.false(bypassesProxy({ host: 'notexample.com', port: 80 }, rules));
  t.true(bypassesProxy({ host: 'git.corp.example', port: 443 }, rules));
  t.true(bypassesProxy({ host: '10.1.2.3', port: 443 }, rules));
  t.true(bypassesProxy({ host: '::1', port: 443 }, rules));
  t.true(bypassesProxy({ host: '192.168.1.1', port: 8080 }, rules));
  t.false(bypassesProxy({ host: '192.168.1.1', port: 80 }, rules));
  t.true(bypassesProxy({ host: 'anything', port: 1 }, parseNoProxy('*')));
});

test('the proxy variable is chosen by protocol, lower case first, and a bad URL is a config error', (t) => {
  const config = readUpstreamProxyConfig({ http_proxy: 'http://h:1', HTTP_PROXY: 'http://ignored:1', HTTPS_PROXY: 'http://s:2', ALL_PROXY: 'socks5h://a:3' });
  const target = { host: 'example.com', port: 443 };
  t.is(chooseUpstream(config, target, 'http')?.host, 'h:1');
  t.is(chooseUpstream(config, target, 'connect')?.host, 's:2');
  t.is(chooseUpstream(readUpstreamProxyConfig({ ALL_PROXY: 'socks5h://a:3' }), target, 'socks')?.protocol, 'socks5h:');
  t.is(chooseUpstream(readUpstreamProxyConfig({}), target, 'socks'), undefined);
  t.throws(() => readUpstreamProxyConfig({ HTTPS_PROXY: 'ftp://x:1' }), { code: 'TP_ERR_UPSTREAM_PROXY_BAD_URL' });
});

import test, { type ExecutionContext } from 'ava';
import { createTunnelDial } from '../../src/daemon/tunnel-dial.js';
import { httpStatusFor, socksReplyFor, SOCKS_REPLY, toDialError } from '../../src/proxy/dial.js';
import { HttpProxyServer } from '../../src/proxy/http-proxy.js';
import { createRoutingTable, decideRoute, type RouteTarget } from '../../src/proxy/routing.js';
import { SocksServer } from '../../src/proxy/socks-server.js';
import { tokenAuthenticator } from '../../src/tunnel/auth.js';
import { SessionPool } from '../../src/tunnel/pool.js';
import { connectTunnel } from '../../src/tunnel/ws-client.js';
import { TunnelServer } from '../../src/tunnel/ws-server.js';
import { execAsUser } from '../helpers/unprivileged.js';

const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12'] });
const route = (target: RouteTarget) => decideRoute(target, table);

/** A tunnel pool of one session of `limit` streams to an echoing server, and the daemon's dial over it. */
async function fullTunnel(t: ExecutionContext, limit: number) {
  const server = await TunnelServer.listen({ authenticate: tokenAuthenticator('dial-token', 'client') });
  t.teardown(() => server.destroy());
  server.on('session', (session) => {
    session.on('stream', (open) => {
      const stream = open.accept();
      stream.on('error', () => {});
      stream.pipe(stream);
    });
  });
  const pool = new SessionPool({ size: 1, maxSessions: 1, maxStreams: limit, connect: () => connectTunnel(server.url, { token: 'dial-token' }) });
  t.teardown(() => pool.destroy());
  await pool.start();
  const dial = createTunnelDial({ open: (host, port) => pool.open({ host, port }), env: { TP_MAX_CONNECTIONS: String(limit) } });
  // Fill the pool to its limit.
  for (let i = 0; i < limit; i++) (await pool.open({ host: 'held', port: i + 1 })).on('error', () => {});
  return dial;
}

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execAsUser('curl', ['--silent', '--show-error', '--max-time', '10', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('a connection over the limit is TP_ERR_DIAL_LIMIT, whose message says the limit and how to raise it', async (t) => {
  const dial = await fullTunnel(t, 2);
  const error = toDialError(await dial({ host: 'web', port: 80 }, { via: 'cluster', clusterHost: 'web.team-a.svc.cluster.local', client: 'test', protocol: 'socks' }).catch((e: unknown) => e), { host: 'web', port: 80 });
  t.is(error.code, 'TP_ERR_DIAL_LIMIT');
  t.regex(error.message, /tp carries at most 2 connections to the cluster at once; to allow more, run `tp quit`, then `TP_MAX_CONNECTIONS=4 tp connect`/);
  t.is(socksReplyFor(error), SOCKS_REPLY.GENERAL_FAILURE);
  t.is(httpStatusFor(error), 503);
});

test('curl through SOCKS5 over the limit gets the SOCKS failure reply', async (t) => {
  const dial = await fullTunnel(t, 2);
  const socks = new SocksServer({ route, dial });
  t.teardown(() => socks.destroy());
  const { port } = await socks.listen();
  const result = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web.team-a/']);
  t.is(result.code, 97, result.stderr); // curl: CURLE_PROXY, the SOCKS5 server answered with a failure
  t.regex(result.stderr, /general SOCKS server failure|\(1\)/i);
});

test('curl through the HTTP proxy over the limit gets 503 with the limit and the knob in the body, for CONNECT and plain requests', async (t) => {
  const dial = await fullTunnel(t, 3);
  const proxy = new HttpProxyServer({ route, dial });
  t.teardown(() => proxy.destroy());
  const { port } = await proxy.listen();
  const plain = await curl(['--write-out', '\n%{http_code}', '-x', `http://127.0.0.1:${port}`, 'http://web.team-a/']);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /at most 3 connections[^]*TP_MAX_CONNECTIONS=6 tp connect[^]*\n503$/);
  const tunnelled = await curl(['--verbose', '--proxytunnel', '-x', `http://127.0.0.1:${port}`, 'http://web.team-a/']);
  t.not(tunnelled.code, 0);
  t.regex(tunnelled.stderr, /HTTP\/1\.1 503 Service Unavailable/);
});

test('TP_MAX_CONNECTIONS that is not a whole number in range is refused with a hint', (t) => {
  for (const value of ['lots', '0', '1.5', '99999999']) {
    const error = t.throws(() => createTunnelDial({ open: () => Promise.reject(new Error('unused')), env: { TP_MAX_CONNECTIONS: value } }), {
      code: 'TP_ERR_BAD_MAX_CONNECTIONS',
    });
    t.regex((error as unknown as { hints: string[] }).hints.join(' '), /TP_MAX_CONNECTIONS=16384 tp connect/);
  }
});

test('a cluster target is opened under the host its routing decision named, without asking the table again', async (t) => {
  const opened: string[] = [];
  const dial = createTunnelDial({
    open: (host) => {
      opened.push(host);
      return Promise.reject(new Error('no tunnel in this test'));
    },
    env: {},
  });
  for (const host of ['web', 'web.team-a', '10.96.0.10']) {
    const decision = route({ host, port: 80 });
    if (decision.via !== 'cluster') return t.fail(`${host} should route to the cluster: ${decision.reason}`);
    await t.throwsAsync(dial({ host, port: 80 }, { ...decision, client: 'test', protocol: 'socks' }), { code: 'TP_ERR_DIAL_FAILED' });
  }
  t.deepEqual(opened, ['web.team-a.svc.cluster.local', 'web.team-a.svc.cluster.local', '10.96.0.10']);
});

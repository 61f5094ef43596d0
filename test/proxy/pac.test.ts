import test from 'ava';
import { createPacResolver } from 'pac-resolver';
import { QuickJS } from 'quickjs-wasi';
import { HttpProxyServer } from '../../src/proxy/http-proxy.js';
import { generatePac, PAC_CONTENT_TYPE } from '../../src/proxy/pac.js';
import { createRoutingTable, decideRoute } from '../../src/proxy/routing.js';
import { execAsUser } from '../helpers/unprivileged.js';

const table = createRoutingTable({
  namespace: 'team-a',
  namespaces: ['team-a', 'payments'],
  serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/108'],
  podCidrs: ['10.244.0.0/16'],
  alsoProxy: ['172.31.0.0/16', '*.internal.example.com', '.rds.example.net'],
  neverProxy: ['10.96.0.10', 'secret.payments', '.never.example.org'],
  includeSuffixes: ['corp.example'],
  excludeSuffixes: ['skip.team-a'],
});
const ports = { httpPort: 3128, socksPort: 1080 };
const PROXY = 'PROXY 127.0.0.1:3128; SOCKS5 127.0.0.1:1080';

const hosts = [
  'web', 'WEB.', 'web.team-a', 'web.payments.svc', 'web.payments.svc.cluster.local', 'pod-0.db.payments',
  'web.unknown', 'example.com', 'www.example.com', 'localhost', 'app.localhost', 'secret.payments',
  'a.never.example.org', 'git.corp.example', 'skip.team-a', 'db.internal.example.com', 'internal.example.com',
  'rds.example.net', 'x.rds.example.net', '127.0.0.1', '169.254.169.254', '10.96.0.1', '10.96.0.10',
  '10.111.255.255', '10.112.0.1', '10.244.9.9', '172.31.0.5', '8.8.8.8', '[::1]', '[fd00:10:96::a]',
  '[fd00:10:96:0:0:0:f:1]', '[fd00:10:96::10:1]', '[2001:db8::1]', '[fe80::1]', '[::ffff:10.96.0.1]',
];

test('the PAC file agrees with the routing decision for every host, evaluated by pac-resolver', async (t) => {
  const qjs = await QuickJS.create();
  const findProxy = createPacResolver(qjs, generatePac(table, ports));
  for (const host of hosts) {
    const bare = host.replace(/^\[|\]$/g, '');
    const expected = decideRoute({ host: bare }, table).via === 'cluster' ? PROXY : 'DIRECT';
    t.is(await findProxy(`http://${host}/`, bare), expected, host);
  }
});

test('the HTTP proxy serves the PAC file at /proxy.pac with the PAC content type', async (t) => {
  let httpPort = 0;
  const proxy = new HttpProxyServer({ pacFile: (): string => generatePac(table, { httpPort, socksPort: 1080 }) });
  t.teardown(() => proxy.destroy());
  const address = await proxy.listen();
  httpPort = address.port;
  const { stdout } = await execAsUser('curl', ['--silent', '--show-error', '--include', `http://127.0.0.1:${address.port}/proxy.pac`]);
  const [head, body] = stdout.split('\r\n\r\n');
  t.regex(head, /^HTTP\/1\.1 200/);
  t.true(head.toLowerCase().includes(`content-type: ${PAC_CONTENT_TYPE}`));
  const findProxy = createPacResolver(await QuickJS.create(), body);
  t.is(await findProxy('http://web.team-a/', 'web.team-a'), `PROXY 127.0.0.1:${address.port}; SOCKS5 127.0.0.1:1080`);
  t.is(await findProxy('https://example.com/', 'example.com'), 'DIRECT');
  const missing = await execAsUser('curl', ['--silent', '--write-out', '%{http_code}', '--output', '/dev/null', `http://127.0.0.1:${address.port}/other`]);
  t.is(missing.stdout, '404');
});

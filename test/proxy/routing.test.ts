import test from 'ava';
import { clusterQueryName, createRoutingTable, decideRoute, RoutingConfigError, type Via } from '../../src/proxy/routing.js';
import { CidrError, cidrContains, parseCidr, parseIp } from '../../src/net/cidr.js';

const table = createRoutingTable({
  namespace: 'team-a',
  namespaces: ['team-a', 'kube-system', 'payments'],
  serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'],
  podCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
  alsoProxy: ['172.31.0.0/16', '*.internal.example.com', '.rds.example.net'],
  neverProxy: ['10.96.0.10/32', 'secret.payments', '.never.example.org', '172.31.5.0/24'],
  includeSuffixes: ['.corp.example'],
  excludeSuffixes: ['skip.team-a'],
});

const cases: [host: string, via: Via, reason: RegExp][] = [
  ['web', 'cluster', /single label.*team-a/],
  ['WEB.', 'cluster', /single label/],
  ['web.payments', 'cluster', /namespace payments/],
  ['web.payments.svc', 'cluster', /namespace payments/],
  ['web.payments.svc.cluster.local', 'cluster', /cluster domain/],
  ['web.payments.svc.cluster.local.', 'cluster', /cluster domain/],
  ['pod-0.db.payments.svc.cluster.local', 'cluster', /cluster domain/],
  ['pod-0.db.payments', 'cluster', /namespace payments/],
  ['web.unknown-ns', 'direct', /not a cluster name/],
  ['example.com', 'direct', /not a cluster name/],
  ['www.example.com.', 'direct', /not a cluster name/],
  ['localhost', 'direct', /localhost/],
  ['app.localhost', 'direct', /localhost/],
  ['127.0.0.1', 'direct', /loopback/],
  ['::1', 'direct', /loopback/],
  ['[::1]', 'direct', /loopback/],
  ['169.254.169.254', 'direct', /link-local/],
  ['fe80::1', 'direct', /link-local/],
  ['10.96.0.1', 'cluster', /service CIDR 10\.96\.0\.0\/12/],
  ['10.111.255.255', 'cluster', /service CIDR/],
  ['10.112.0.1', 'direct', /outside/],
  ['10.244.3.7', 'cluster', /pod CIDR/],
  ['::ffff:10.244.3.7', 'cluster', /pod CIDR/],
  ['fd00:10:96::a', 'cluster', /service CIDR fd00:10:96::\/112/],
  ['FD00:10:244:FF::1', 'cluster', /pod CIDR/],
  ['fd00:10:245::1', 'direct', /outside/],
  ['2001:db8::1', 'direct', /outside/],
  ['172.31.9.9', 'cluster', /also-proxy 172\.31\.0\.0\/16/],
  ['db.internal.example.com', 'cluster', /also-proxy \*\.internal\.example\.com/],
  ['internal.example.com', 'direct', /not a cluster name/],
  ['rds.example.net', 'cluster', /also-proxy/],
  ['x.rds.example.net', 'cluster', /also-proxy/],
  ['10.96.0.10', 'direct', /never-proxy/],
  ['172.31.5.1', 'direct', /never-proxy/],
  ['secret.payments', 'direct', /never-proxy/],
  ['a.never.example.org', 'direct', /never-proxy/],
  ['git.corp.example', 'cluster', /included suffix corp\.example/],
  ['skip.team-a', 'direct', /excluded suffix/],
  ['', 'direct', /empty/],
];

for (const [host, via, reason] of cases) {
  test(`routes "${host}" ${via}`, (t) => {
    const decision = decideRoute({ host, port: 80 }, table);
    t.is(decision.via, via, decision.reason);
    t.regex(decision.reason, reason);
  });
}

test('never-proxy wins over also-proxy, include suffixes and cluster names', (t) => {
  const strict = createRoutingTable({
    namespaces: ['payments'],
    alsoProxy: ['*.example.com', '10.0.0.0/8'],
    includeSuffixes: ['example.com'],
    neverProxy: ['api.example.com', 'web.payments', '10.0.0.0/8'],
    serviceCidrs: ['10.96.0.0/12'],
  });
  t.is(decideRoute({ host: 'api.example.com' }, strict).via, 'direct');
  t.is(decideRoute({ host: 'web.payments' }, strict).via, 'direct');
  t.is(decideRoute({ host: '10.96.0.1' }, strict).via, 'direct');
  t.is(decideRoute({ host: 'other.example.com' }, strict).via, 'cluster');
});

test('a custom cluster domain replaces cluster.local', (t) => {
  const custom = createRoutingTable({ clusterDomain: 'k8s.internal.', namespace: 'ns1' });
  t.is(decideRoute({ host: 'web.ns1.svc.k8s.internal' }, custom).via, 'cluster');
  t.is(decideRoute({ host: 'web.ns1.svc.cluster.local' }, custom).via, 'direct');
  t.is(clusterQueryName('web', custom), 'web.ns1.svc.k8s.internal');
});

const queryNames: [host: string, expected: string | undefined][] = [
  ['web', 'web.team-a.svc.cluster.local'],
  ['Web.', 'web.team-a.svc.cluster.local'],
  ['web.payments', 'web.payments.svc.cluster.local'],
  ['pod-0.db.payments', 'pod-0.db.payments.svc.cluster.local'],
  ['web.payments.svc', 'web.payments.svc.cluster.local'],
  ['web.payments.svc.cluster.local.', 'web.payments.svc.cluster.local'],
  ['db.internal.example.com', 'db.internal.example.com'],
  ['example.com', undefined],
  ['10.96.0.1', undefined],
  ['localhost', undefined],
];

for (const [host, expected] of queryNames) {
  test(`asks the cluster about "${host}" as ${String(expected)}`, (t) => {
    t.is(clusterQueryName(host, table), expected);
  });
}

test('a bad CIDR or pattern in the options is a config error with a code', (t) => {
  const badCidr = t.throws(() => createRoutingTable({ serviceCidrs: ['10.0.0.0/33'] }));
  t.true(badCidr instanceof CidrError);
  t.is((badCidr as CidrError).code, 'TP_ERR_ROUTING_BAD_CIDR');
  const badName = t.throws(() => createRoutingTable({ alsoProxy: ['foo*bar.com'] }));
  t.true(badName instanceof RoutingConfigError);
  t.throws(() => createRoutingTable({ podCidrs: ['not-an-ip/8'] }), { code: 'TP_ERR_ROUTING_BAD_CIDR' });
});

test('CIDR matching handles prefixes that are not byte-aligned, in both families', (t) => {
  t.true(cidrContains(parseCidr('10.96.0.0/12'), parseIp('10.111.1.1')!));
  t.false(cidrContains(parseCidr('10.96.0.0/12'), parseIp('10.112.0.0')!));
  t.true(cidrContains(parseCidr('fe80::/10'), parseIp('febf::1')!));
  t.false(cidrContains(parseCidr('fe80::/10'), parseIp('fec0::1')!));
  t.true(cidrContains(parseCidr('0.0.0.0/0'), parseIp('8.8.8.8')!));
  t.false(cidrContains(parseCidr('::/0'), parseIp('8.8.8.8')!));
  t.deepEqual(Array.from(parseIp('::ffff:1.2.3.4')!), [1, 2, 3, 4]);
  t.is(parseIp('example.com'), undefined);
});

test('a cluster decision names the host to open there: cluster names qualified, other names and addresses as given', (t) => {
  const table = createRoutingTable({ namespace: 'team-a', namespaces: ['team-a'], serviceCidrs: ['10.96.0.0/12'], alsoProxy: ['db.example.com'] });
  const hosts = ['web', 'Web.Team-A.', 'web.team-a.svc', 'db.example.com', '10.96.0.10', 'example.org'];
  t.deepEqual(
    hosts.map((host) => {
      const decision = decideRoute({ host }, table);
      return decision.via === 'cluster' ? decision.clusterHost : decision.via;
    }),
    ['web.team-a.svc.cluster.local', 'web.team-a.svc.cluster.local', 'web.team-a.svc.cluster.local', 'db.example.com', '10.96.0.10', 'direct'],
  );
});

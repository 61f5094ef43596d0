import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterDomainFromResolvConf, coveringCidrs } from '../../src/manager/cluster-info.js';

test('observed addresses are covered by their /16 or /64, once each', (t) => {
  t.deepEqual(coveringCidrs(['10.96.0.1', '10.96.12.7', '10.97.0.1', 'fd00:10:96::a', 'not-an-ip', '']), ['10.96.0.0/16', '10.97.0.0/16', 'fd00:10:96::/64']);
});

test('the cluster domain is read from the search path of a pod resolv.conf', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-resolv-'));
  t.teardown(() => rmSync(dir, { recursive: true }));
  const file = join(dir, 'resolv.conf');
  writeFileSync(file, 'nameserver 10.96.0.10\nsearch tp.svc.corp.example svc.corp.example corp.example\noptions ndots:5\n');
  t.is(clusterDomainFromResolvConf(file), 'corp.example');
  writeFileSync(file, 'nameserver 1.1.1.1\nsearch example.com\n');
  t.is(clusterDomainFromResolvConf(file), undefined);
  t.is(clusterDomainFromResolvConf(join(dir, 'missing')), undefined);
});

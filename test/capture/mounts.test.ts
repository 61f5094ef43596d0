import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coverable, podMountScript, podMountsOf } from '../../src/capture/mounts.js';

test('paths the namespace needs are never covered: /, /proc, /sys, /dev, the kept dirs and their parents', (t) => {
  const keep = ['/run/user/1000/tp', '/home/u/.local/state/tp'];
  t.true(coverable('/var/run/secrets/kubernetes.io/serviceaccount', keep));
  t.true(coverable('/etc/app/', keep));
  for (const path of ['/', '/proc', '/proc/1', '/sys/fs', '/dev', '/run/user', '/run/user/1000/tp', '/home/u', '/a/../b']) t.false(coverable(path, keep), path);
});

test('the set-up script binds each coverable mount, quoted; nothing to mount gives no script', (t) => {
  const script = podMountScript([{ path: '/etc/it\'s', source: '/copy/etc/it\'s' }, { path: '/proc/x', source: '/copy/proc/x' }], '/stage', []);
  t.true(script.includes(`tp_mount '/copy/etc/it'\\''s' '/etc/it'\\''s'`));
  t.false(script.includes('/copy/proc/x'));
  t.is(podMountScript([{ path: '/dev/x', source: '/c' }], '/stage', []), '');
});

test('a copy\'s manifest names its mounts; no TP_ROOT or no manifest names none', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tp-mounts-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.deepEqual(podMountsOf({}), []);
  t.deepEqual(podMountsOf({ TP_ROOT: root }), []);
  writeFileSync(join(root, '.tp-mounts.json'), JSON.stringify(['/etc/app', 'relative', 7]));
  t.deepEqual(podMountsOf({ TP_ROOT: root }), [{ path: '/etc/app', source: join(root, 'etc/app') }]);
});

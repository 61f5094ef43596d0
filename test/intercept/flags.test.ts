import test from 'ava';
import { parseHeaders, parseMountFlags, parsePortFlag, splitAtDashes, withMountValue } from '../../src/intercept/flags.js';

test('--port takes a local port and optionally a service port name or number', (t) => {
  t.deepEqual(parsePortFlag('8080'), { laptopPort: 8080, servicePort: undefined });
  t.deepEqual(parsePortFlag('8080:http'), { laptopPort: 8080, servicePort: 'http' });
  t.deepEqual(parsePortFlag('3000:80'), { laptopPort: 3000, servicePort: '80' });
  for (const bad of ['', 'http', '0', '70000', '80:', '80:a b']) t.throws(() => parsePortFlag(bad), { code: 'TP_ERR_INTERCEPT_BAD_PORT' } as never);
});

test('--http-header NAME=VALUE lower-cases names and keeps values as given', (t) => {
  t.deepEqual(parseHeaders(['X-Dev=Alice', 'x-team=a=b']), { 'x-dev': 'Alice', 'x-team': 'a=b' });
  t.is(parseHeaders([]), undefined);
  t.throws(() => parseHeaders(['novalue']), { code: 'TP_ERR_INTERCEPT_BAD_HEADER' } as never);
  t.throws(() => parseHeaders(['bad name=x']), { code: 'TP_ERR_INTERCEPT_BAD_HEADER' } as never);
});

test('argv splits at the first --', (t) => {
  t.deepEqual(splitAtDashes(['web', '--port', '1', '--', 'env', '--', 'x']), { tpArgv: ['web', '--port', '1'], command: ['env', '--', 'x'] });
  t.deepEqual(splitAtDashes(['web']), { tpArgv: ['web'], command: [] });
});

test('--mount: bare is on, =false is off, =DIR is on there, absent is auto; excludes are clean absolute paths', (t) => {
  t.deepEqual(withMountValue(['files', '--mount', '--port', '8080']), ['files', '--mount=true', '--port', '8080']);
  t.deepEqual(parseMountFlags({}), { enabled: 'auto', exclude: [], rw: false });
  t.deepEqual(parseMountFlags({ mount: 'true' }), { enabled: true, exclude: [], rw: false });
  t.deepEqual(parseMountFlags({ mount: 'false' }), { enabled: false, exclude: [], rw: false });
  t.deepEqual(parseMountFlags({ mount: '/tmp/x', 'mount-exclude': ['/var/cache//app/'], 'mount-max-mb': 8, 'mount-rw': true }), { enabled: true, dir: '/tmp/x', exclude: ['/var/cache/app'], maxMb: 8, rw: true });
  t.throws(() => parseMountFlags({ 'mount-exclude': ['var/cache'] }), { message: /--mount-exclude var\/cache is not an absolute mount path/ });
  t.throws(() => parseMountFlags({ 'mount-exclude': ['/a/../b'] }), { message: /not an absolute mount path/ });
  t.throws(() => parseMountFlags({ 'mount-max-mb': 0 }), { message: /--mount-max-mb 0/ });
});

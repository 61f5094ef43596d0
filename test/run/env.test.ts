import test from 'ava';
import { buildRunEnv, withoutShims } from '../../src/run/env.js';

const doors = { httpProxy: '127.0.0.1:8081', socksProxy: '127.0.0.1:1081' };

test('sets the proxy variables most programs honour', (t) => {
  const env = buildRunEnv({ PATH: '/usr/bin' }, doors);
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) t.is(env[name], 'http://127.0.0.1:8081');
  t.is(env.ALL_PROXY, 'socks5h://127.0.0.1:1081');
  t.is(env.NO_PROXY, 'localhost,127.0.0.1,::1');
  t.is(env.NODE_USE_ENV_PROXY, '1');
  t.is(env.PATH, '/usr/bin');
  t.regex(env.JAVA_TOOL_OPTIONS!, /-DsocksProxyHost=127\.0\.0\.1 -DsocksProxyPort=1081$/);
  t.regex(env.JAVA_TOOL_OPTIONS!, /-Dhttps\.proxyPort=8081/);
  t.is(env.LD_PRELOAD, undefined);
  t.is(env.TP_ROUTES, undefined);
});

test('keeps what the user had and appends to it', (t) => {
  const env = buildRunEnv(
    { NO_PROXY: 'corp.example, 127.0.0.1', JAVA_TOOL_OPTIONS: '-Xmx1g', NODE_OPTIONS: '--max-old-space-size=100', LD_PRELOAD: '/opt/other.so' },
    { ...doors, routesFile: '/run/tp/routes', preloadLibrary: '/opt/tp/libtp.so', nodePreload: '/opt/tp/preload.cjs' },
  );
  t.is(env.NO_PROXY, 'corp.example,127.0.0.1,localhost,::1');
  t.true(env.JAVA_TOOL_OPTIONS!.startsWith('-Xmx1g -Dhttp.proxyHost=127.0.0.1'));
  t.is(env.NODE_OPTIONS, '--max-old-space-size=100 --require /opt/tp/preload.cjs');
  t.is(env.LD_PRELOAD, '/opt/other.so /opt/tp/libtp.so');
  t.is(env.TP_ROUTES, '/run/tp/routes');
});

test('adding the layers twice changes nothing', (t) => {
  const options = { ...doors, routesFile: '/run/tp/routes', preloadLibrary: '/opt/tp/libtp.so', nodePreload: '/opt/my tp/preload.cjs' };
  const once = buildRunEnv({}, options);
  t.deepEqual(buildRunEnv(once, options), once);
  t.is(once.NODE_OPTIONS, '--require "/opt/my tp/preload.cjs"');
});

test('no shim is loaded without a routes file', (t) => {
  const env = buildRunEnv({}, { ...doors, preloadLibrary: '/opt/tp/libtp.so', nodePreload: '/opt/tp/preload.cjs' });
  t.is(env.LD_PRELOAD, undefined);
  t.is(env.NODE_OPTIONS, undefined);
});

test('withoutShims takes tp\'s additions out again and leaves the user\'s', (t) => {
  const options = { ...doors, routesFile: '/run/tp/routes', preloadLibrary: '/opt/tp/libtp.so', nodePreload: '/opt/tp/preload.cjs' };
  const env = buildRunEnv({ LD_PRELOAD: '/opt/other.so', NODE_OPTIONS: '--trace-warnings' }, options);
  const cleaned = withoutShims(env, options);
  t.is(cleaned.LD_PRELOAD, '/opt/other.so');
  t.is(cleaned.NODE_OPTIONS, '--trace-warnings');
  t.is(cleaned.TP_ROUTES, undefined);
});

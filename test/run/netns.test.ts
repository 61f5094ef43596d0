// --netns insists and --try-netns falls back: with the real probe of this machine and a daemon
// that serves no capture socket (a path where none is), the first stops with a registered
// refusal, the second says why in one line and lets tp run go on with today's layers.
import test from 'ava';
import { TpError } from '../../src/errors.js';
import { captureSupport } from '../../src/capture/support.js';
import { checkPortMaps, chooseNetns, parsePortMaps } from '../../src/run/netns.js';

const NO_SOCKET = '/nonexistent/tp-capture.sock';

test('--netns stops with the refusal; the machine\'s own reason comes first, else the daemon\'s', (t) => {
  const error = t.throws(() => chooseNetns('required', NO_SOCKET, () => t.fail('no warning when insisting'), process.env), { instanceOf: TpError });
  t.regex(error!.code, /^TP_ERR_NETNS_/);
  if (captureSupport().ok) t.is(error!.code, 'TP_ERR_NETNS_DAEMON');
  t.true(error!.hints.length > 0);
});

test('--try-netns says why in one line and falls back', (t) => {
  const warnings: string[] = [];
  t.is(chooseNetns('try', NO_SOCKET, (message) => warnings.push(message), process.env), undefined);
  t.is(warnings.length, 1);
  t.regex(warnings[0], /^--try-netns: .+ Running with proxy settings and preload libraries instead\.$/);
});

test('off asks nothing', (t) => {
  t.is(chooseNetns('off', NO_SOCKET, () => t.fail('no warning when off'), process.env), undefined);
});

test('--host-port and --publish take PORT or FROM:TO, and refuse what cannot work', (t) => {
  t.deepEqual(parsePortMaps('--host-port', ['5432', '6380:6379']), [
    { from: 5432, to: 5432 },
    { from: 6380, to: 6379 },
  ]);
  t.deepEqual(parsePortMaps('--publish', ['18080:8080']), [{ from: 18080, to: 8080 }]);
  t.deepEqual(parsePortMaps('--publish', undefined), []);
  for (const bad of ['', 'http', '0', '70000', '80:', ':80', '1:2:3', '-1']) {
    t.is(t.throws(() => parsePortMaps('--publish', [bad]), { instanceOf: TpError })?.code, 'TP_ERR_RUN_BAD_PORT', bad);
  }
  t.regex(t.throws(() => parsePortMaps('--host-port', ['15001']))!.message, /relay's own/);
  t.regex(t.throws(() => parsePortMaps('--publish', ['8080:15053']))!.message, /relay's own/);
  t.regex(t.throws(() => parsePortMaps('--publish', ['8080', '8080:9090']))!.message, /twice/);
  // Two host ports may publish the same port inside.
  t.is(parsePortMaps('--publish', ['8080', '18080:8080']).length, 2);
  t.regex(t.throws(() => checkPortMaps([{ from: 8080, to: 8080 }], [{ from: 9090, to: 8080 }]))!.message, /both to --host-port and to --publish/);
  t.notThrows(() => checkPortMaps([{ from: 5432, to: 5432 }], [{ from: 8080, to: 8080 }]));
});

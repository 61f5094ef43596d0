// --netns insists and --try-netns falls back: with the real probe of this machine and a daemon
// that serves no capture socket (a path where none is), the first stops with a registered
// refusal, the second says why in one line and lets tp run go on with today's layers.
import test from 'ava';
import { TpError } from '../../src/errors.js';
import { captureSupport } from '../../src/capture/support.js';
import { chooseNetns } from '../../src/run/netns.js';

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

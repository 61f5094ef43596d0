import test from 'ava';
import { TpError } from '../../src/errors.js';
import { remoteError } from '../../src/intercept/remote-error.js';
import { InterceptError } from '../../src/inject/intercept-errors.js';
import { memorySessions } from '../tunnel/helpers.js';

test('a manager error that crossed the tunnel comes back with its code, message and registered hints', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.handle('create', () => {
    throw new InterceptError('TP_ERR_INTERCEPT_NO_SERVICE', 'No Service selects the pods of deployment web.');
  });
  const error = await client.request('create', null).then(() => undefined, (err: unknown) => remoteError('creating the intercept', err));
  t.true(error instanceof TpError);
  t.is(error?.code, 'TP_ERR_INTERCEPT_NO_SERVICE');
  t.is(error?.message, 'No Service selects the pods of deployment web.');
  t.true(error?.hints.some((hint) => hint.includes('--service')));
});

test('a code this release does not know keeps its text under TP_ERR_INTERCEPT_MANAGER', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.handle('create', () => {
    throw Object.assign(new Error('a newer manager refused'), { code: 'TP_ERR_INTERCEPT_SOMETHING_NEW' });
  });
  const error = await client.request('create', null).then(() => undefined, (err: unknown) => remoteError('creating the intercept', err));
  t.is(error?.code, 'TP_ERR_INTERCEPT_MANAGER');
  t.is(error?.message, 'a newer manager refused (TP_ERR_INTERCEPT_SOMETHING_NEW)');
});

test('a session that ends before the answer is said as what was being done', async (t) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.handle('create', () => new Promise(() => {}));
  const pending = client.request('create', null).then(() => undefined, (err: unknown) => remoteError('creating the intercept', err));
  server.destroy();
  const error = await pending;
  t.is(error?.code, 'TP_ERR_INTERCEPT_MANAGER');
  t.regex(error?.message ?? '', /did not answer while creating the intercept/);
});

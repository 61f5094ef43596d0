import test from 'ava';
import { ERROR_CODES, errorFromBody, isErrorCode, TpError } from '../src/errors.js';

test('every registered code is TP_ERR_ followed by upper-case words', (t) => {
  const off = Object.keys(ERROR_CODES).filter((code) => !/^TP_ERR_[A-Z]+(_[A-Z]+)*$/.test(code));
  t.deepEqual(off, []);
});

test('a TpError takes its category and standing hints from the registry', (t) => {
  const error = new TpError('TP_ERR_INTERCEPT_NO_AGENT', 'no agent answered');
  t.is(error.category, 'user');
  t.deepEqual(error.hints, ['Look at the agent\'s log: kubectl logs <pod> -c traffic-agent']);
  t.is(new TpError('TP_ERR_KUBE_FORBIDDEN', 'no').category, 'config');
});

test('a thrower\'s own hints replace the registered ones', (t) => {
  t.deepEqual(new TpError('TP_ERR_INTERCEPT_CONFLICT', 'taken', { hints: ['Leave it first: tp leave web'] }).hints, ['Leave it first: tp leave web']);
});

test('an error body from another process comes back as the same code with its hints', (t) => {
  const error = errorFromBody({ code: 'TP_ERR_INTERCEPT_NO_SERVICE', message: 'web has no Service' }, 'TP_ERR_INTERCEPT_MANAGER');
  t.is(error.code, 'TP_ERR_INTERCEPT_NO_SERVICE');
  t.is(error.message, 'web has no Service');
  t.true(error.hints[0].includes('--service'));
});

test('an unknown code from another release becomes the fallback and keeps the foreign code in the message', (t) => {
  t.false(isErrorCode('TP_ERR_FROM_THE_FUTURE'));
  const error = errorFromBody({ code: 'TP_ERR_FROM_THE_FUTURE', message: 'something new', hints: ['do this'] }, 'TP_ERR_DAEMON_INTERNAL');
  t.is(error.code, 'TP_ERR_DAEMON_INTERNAL');
  t.is(error.message, 'something new (TP_ERR_FROM_THE_FUTURE)');
  t.deepEqual(error.hints, ['do this']);
});

test('inherited object keys are not codes', (t) => {
  t.false(isErrorCode('toString'));
  t.false(isErrorCode(undefined));
});

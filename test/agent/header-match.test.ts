import test from 'ava';
import { matchesIntercept, requestPath } from '../../src/agent/header-match.js';

const head = (url: string, ...rawHeaders: string[]) => ({ url, rawHeaders });

test('header names match case-insensitively, values exactly', (t) => {
  const rule = { headers: { 'X-Dev': 'alice' } };
  t.true(matchesIntercept(rule, head('/', 'x-dev', 'alice')));
  t.true(matchesIntercept(rule, head('/', 'X-DEV', 'alice')));
  t.false(matchesIntercept(rule, head('/', 'x-dev', 'Alice')));
  t.false(matchesIntercept(rule, head('/', 'x-dev', 'alice2')));
  t.false(matchesIntercept(rule, head('/')));
});

test('several headers are ANDed', (t) => {
  const rule = { headers: { 'x-dev': 'alice', 'x-team': 'blue' } };
  t.true(matchesIntercept(rule, head('/', 'x-team', 'blue', 'x-dev', 'alice')));
  t.false(matchesIntercept(rule, head('/', 'x-dev', 'alice')));
});

test('a header sent twice matches by any of its lines', (t) => {
  t.true(matchesIntercept({ headers: { 'x-dev': 'alice' } }, head('/', 'x-dev', 'bob', 'x-dev', 'alice')));
});

test('the path prefix applies to origin-form and absolute-form targets', (t) => {
  const rule = { pathPrefix: '/api/' };
  t.true(matchesIntercept(rule, head('/api/users?x=1')));
  t.true(matchesIntercept(rule, head('http://hello.default/api/users')));
  t.false(matchesIntercept(rule, head('/apix')));
  t.false(matchesIntercept(rule, head('/')));
  t.is(requestPath('http://hello.default'), '/');
  t.is(requestPath('http://hello.default?q'), '/?q');
});

test('an intercept with neither headers nor prefix matches every request', (t) => {
  t.true(matchesIntercept({}, head('/anything', 'a', 'b')));
});

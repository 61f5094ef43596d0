import test from 'ava';
import { InterceptTable, parseInterceptsBody, type InterceptRule } from '../../src/agent/intercept-table.js';

const head = (url: string, ...rawHeaders: string[]) => ({ url, rawHeaders });
const rule = (id: string, extra: Partial<InterceptRule> = {}): InterceptRule => ({ id, name: id, mode: 'personal', containerPort: 8080, client: 'u@h', ...extra });

test('the table routes a connection to the app, a global intercept, or the HTTP router', (t) => {
  const table = new InterceptTable();
  t.deepEqual(table.routeConnection(8080), { to: 'app' });
  table.replace([rule('p1', { headers: { 'x-dev': 'a' } })]);
  t.deepEqual(table.routeConnection(8080), { to: 'http' });
  t.deepEqual(table.routeConnection(9000), { to: 'app' });
  table.replace([rule('g1', { mode: 'global', containerPort: 9000 })]);
  t.is(table.routeConnection(9000).to, 'global');
  t.deepEqual(table.routeConnection(8080), { to: 'app' });
});

test('the first matching personal intercept wins', (t) => {
  const table = new InterceptTable();
  table.replace([rule('p1', { pathPrefix: '/a' }), rule('p2', { pathPrefix: '/' })]);
  t.like(table.routeRequest(8080, head('/a/b')), { to: 'intercept', intercept: { id: 'p1' } });
  t.like(table.routeRequest(8080, head('/b')), { to: 'intercept', intercept: { id: 'p2' } });
  t.deepEqual(table.routeRequest(9000, head('/a')), { to: 'app' });
});

test('malformed list entries are dropped with a reason and the valid ones kept', (t) => {
  const parsed = parseInterceptsBody({
    intercepts: [rule('ok'), { id: 'x', mode: 'sideways', containerPort: 1 }, { id: 'y', mode: 'personal', containerPort: 1, headers: { a: 1 } }, null, 'text'],
  });
  t.deepEqual(parsed.intercepts.map((r) => r.id), ['ok']);
  t.is(parsed.problems.length, 4);
  t.deepEqual(parseInterceptsBody('junk').intercepts, []);
});

test('first bytes tell HTTP/1 from the HTTP/2 preface and other protocols', async (t) => {
  const { firstBytesKind } = await import('../../src/agent/agent.js');
  t.is(firstBytesKind(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  t.is(firstBytesKind(Buffer.from('POST /x HTTP/1.1\r\n')), 'http1');
  t.is(firstBytesKind(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2c');
  t.is(firstBytesKind(Buffer.from('PRI * HTTP/2')), 'h2c');
  t.is(firstBytesKind(Buffer.from([0x16, 0x03, 0x01, 0x02])), 'other');
  t.is(firstBytesKind(Buffer.from('get / HTTP/1.1')), 'other');
});

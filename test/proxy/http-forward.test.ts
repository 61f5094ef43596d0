// The HTTP proxy's spliced path (src/proxy/http-forward.ts) against a raw TCP origin that answers
// exactly as each test says, so framing, reuse, cut answers and half-closes are checked byte for byte.
import test from 'ava';
import { BodyCounter, FramingError } from '../../src/proxy/http-framing.js';
import { parseRequestHead, parseResponseHead, responseFraming, rewriteHead } from '../../src/proxy/http-head.js';
import { exchange, startOrigin, startProxy } from './raw-origin.js';

test('a chunked body is counted across any split, trailers included; a bad chunk line is a FramingError', (t) => {
  const body = Buffer.from('5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT');
  const counter = new BodyCounter({ kind: 'chunked' });
  let taken = 0;
  for (let i = 0; i < body.length && !counter.done; i++) taken += counter.take(body.subarray(i, i + 1));
  t.true(counter.done);
  t.is(taken, body.length - 'NEXT'.length);
  const whole = new BodyCounter({ kind: 'chunked' });
  t.is(whole.take(body), body.length - 4);
  t.throws(() => new BodyCounter({ kind: 'chunked' }).take(Buffer.from('zz\r\n')), { instanceOf: FramingError });
  t.throws(() => new BodyCounter({ kind: 'chunked' }).take(Buffer.from('2\r\nabc\r\n')), { instanceOf: FramingError });
});

test('heads are read from their bytes: hop-by-hop, Proxy-* and Connection-listed lines left out in any case, the rest passed on as written', (t) => {
  const bytes = Buffer.from(
    'GET http://web.team-a/x?y HTTP/1.1\r\nHOST: web.team-a\r\nX-Keep:  a b \r\nCONNECTION: X-Drop, Keep-Alive\r\nx-drop: 1\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nKeep-Alive: 5\r\nContent-Length: 2\r\n\r\nhi',
    'latin1',
  );
  const end = bytes.indexOf('\r\n\r\n') + 4;
  const request = parseRequestHead(bytes, end)!;
  t.like(request, { method: 'GET', target: 'http://web.team-a/x?y', minor: 1 });
  t.deepEqual(request.headers.map(([name]) => name), ['host', 'x-keep', 'connection', 'x-drop', 'te', 'proxy-authorization', 'keep-alive', 'content-length']);
  t.is(request.headers[1][1], 'a b');
  t.is(
    rewriteHead(request, 'GET /x?y HTTP/1.1', 'host: web.team-a\r\n', '', true).toString('latin1'),
    'GET /x?y HTTP/1.1\r\nhost: web.team-a\r\nX-Keep:  a b \r\nContent-Length: 2\r\n\r\n',
  );
  const answer = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello!', 'latin1');
  const answerEnd = answer.indexOf('\r\n\r\n') + 4;
  const response = parseResponseHead(answer, answerEnd);
  t.is(response.status, 200);
  t.deepEqual(responseFraming('GET', response), { kind: 'length', length: 5 });
  t.is(
    rewriteHead(response, undefined, '', 'connection: close\r\n', false, { bytes: answer, start: answerEnd, end: answerEnd + 5 }).toString('latin1'),
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nconnection: close\r\n\r\nhello',
  );
  const differing = parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n'));
  t.throws(() => responseFraming('GET', differing), { instanceOf: FramingError });
  t.is(parseRequestHead(Buffer.from('GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n')), undefined);
  t.is(parseRequestHead(Buffer.from('GET http://a/ HTTP/1.1\r\n folded\r\n\r\n')), undefined);
  t.is(parseRequestHead(Buffer.from('get http://a/ HTTP/1.1\r\n\r\n')), undefined);
});

test('an answer in pieces, and one after a 100 Continue in the same read, reach the client whole', async (t) => {
  const origin = await startOrigin(t, (socket, received) => {
    const count = received.toString('latin1').split('\r\n\r\n').length - 1;
    if (count === 1) {
      socket.write('HTTP/1.1 200 OK\r\ncontent-');
      setTimeout(() => socket.write('length: 4\r\n\r\non'), 20);
      setTimeout(() => socket.write('e!'), 40);
    }
    if (count === 2) socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo');
  });
  const proxy = await startProxy(t, origin.port);
  const head = (path: string): string => `GET http://web.team-a${path} HTTP/1.1\r\nHost: web.team-a\r\n\r\n`;
  const outcome = await exchange(proxy.port, [head('/1') + head('/2')], /two$/);
  t.is(outcome.error, undefined);
  t.is(outcome.text, 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\none!HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\ntwo');
});

test('pipelined keep-alive requests get their answers in order over one upstream connection, chunked and sized', async (t) => {
  // Answers each head as it arrives (the proxy sends the second only after the first answer).
  const origin = await startOrigin(t, (socket, received) => {
    const count = received.toString('latin1').split('\r\n\r\n').length - 1;
    if (count === 1) socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nkeep-alive: timeout=5\r\n\r\n3\r\none\r\n0\r\n\r\n');
    if (count === 2) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo');
  });
  const proxy = await startProxy(t, origin.port);
  const head = (path: string): string => `GET http://web.team-a${path} HTTP/1.1\r\nHost: web.team-a\r\nProxy-Connection: keep-alive\r\n\r\n`;
  const outcome = await exchange(proxy.port, [head('/1') + head('/2')], /two$/);
  t.is(outcome.error, undefined);
  t.regex(outcome.text, /^HTTP\/1\.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n3\r\none\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\ntwo$/);
  t.is(proxy.dials(), 1);
  const sent = Buffer.concat(origin.received[0]).toString('latin1');
  t.is(sent, 'GET /1 HTTP/1.1\r\nhost: web.team-a\r\n\r\nGET /2 HTTP/1.1\r\nhost: web.team-a\r\n\r\n');
});

test('a request body split across writes reaches the origin whole, and a half-closed client still gets the answer', async (t) => {
  const origin = await startOrigin(t, (socket, received) => {
    if (received.toString('latin1').endsWith('0123456789')) socket.end('HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok');
  });
  const proxy = await startProxy(t, origin.port);
  const outcome = await exchange(proxy.port, ['POST http://web.team-a/up HTTP/1.1\r\nHost: web.team-a\r\nContent-Length: 10\r\n\r\n01234', '56789', 'end']);
  t.is(outcome.error, undefined);
  t.regex(outcome.text, /^HTTP\/1\.1 201 Created\r\n[\s\S]*\r\n\r\nok$/);
  // Header lines the proxy passes on go as the client wrote them; it writes Host itself.
  t.is(Buffer.concat(origin.received[0]).toString('latin1'), 'POST /up HTTP/1.1\r\nhost: web.team-a\r\nContent-Length: 10\r\n\r\n0123456789');
});

test('an answer the origin ends with its close arrives whole, then the client connection closes', async (t) => {
  const origin = await startOrigin(t, (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it'));
  const proxy = await startProxy(t, origin.port);
  const outcome = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\n\r\n']);
  t.is(outcome.error, undefined);
  t.is(outcome.text, 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nall of it');
});

test('an answer cut short by the origin (a FIN before its length, or a reset) resets the client', async (t) => {
  const fin = await startOrigin(t, (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b'));
  const rst = await startOrigin(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b', () => setTimeout(() => socket.resetAndDestroy(), 50));
  });
  for (const origin of [fin, rst]) {
    const proxy = await startProxy(t, origin.port);
    const outcome = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\n\r\n']);
    t.is(outcome.error, 'ECONNRESET', outcome.text);
  }
});

test('an origin that never answers a head gets the client a 502, and HTTP/1.0 goes through Node’s server', async (t) => {
  const broken = await startOrigin(t, (socket) => socket.end('not http at all\r\n\r\n'));
  const proxy = await startProxy(t, broken.port);
  const outcome = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\n\r\n']);
  t.regex(outcome.text, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*malformed response head/);
  const http10 = await startOrigin(t, (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nold!'));
  const proxy10 = await startProxy(t, http10.port);
  const old = await exchange(proxy10.port, ['GET http://web.team-a/ HTTP/1.0\r\nHost: web.team-a\r\n\r\n']);
  t.regex(old.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nold!$/);
});

test('a bare LF or other control byte in a head is never passed on: Node answers the request 400, a response like it is a 502', async (t) => {
  const origin = await startOrigin(t, (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-evil: a\nb: c\r\n\r\nok'));
  const proxy = await startProxy(t, origin.port);
  const smuggled = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\nX-A: 1\nGET /other HTTP/1.1\r\n\r\n']);
  t.regex(smuggled.text, /^HTTP\/1\.1 400 /);
  t.is(origin.received.length, 0);
  const answer = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\n\r\n']);
  t.regex(answer.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
});

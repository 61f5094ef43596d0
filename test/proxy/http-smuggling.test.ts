// Request and response smuggling through the HTTP proxy, both paths (the spliced one in
// http-forward.ts and Node's server with http-proxy): a Connection header may not list the
// headers that frame or route a message (Content-Length, Transfer-Encoding, Host; RFC 9110
// §7.6.1, RFC 9112 §6.1), an answer may not carry both Transfer-Encoding and Content-Length (RFC
// 9112 §6.3), and no Proxy-* header (`Proxy-` itself included) reaches the origin. Each case checks
// the bytes the origin received, so a second request hidden in a body is seen if it gets through.
import test from 'ava';
import { parseRequestHead, parseResponseHead, responseFraming, rewriteHead } from '../../src/proxy/http-head.js';
import { framingListedIn } from '../../src/net/hop-by-hop.js';
import { FramingError } from '../../src/proxy/http-framing.js';
import { exchange, receivedText, startOrigin, startProxy } from './raw-origin.js';

const HIDDEN = 'GET /admin HTTP/1.1\r\nHost: web\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/** An origin that answers every request head it receives with OK. */
async function okOrigin(t: Parameters<typeof startOrigin>[0]): ReturnType<typeof startOrigin> {
  const answered = new WeakMap<object, number>();
  return startOrigin(t, (socket, received) => {
    const heads = received.toString('latin1').split('\r\n\r\n').length - 1;
    for (let n = answered.get(socket) ?? 0; n < heads; n++) socket.write(OK);
    answered.set(socket, heads);
  });
}

test('a request whose Connection lists Content-Length, Transfer-Encoding or Host gets 400 on either path, and the origin sees nothing', async (t) => {
  const origin = await okOrigin(t);
  const proxy = await startProxy(t, origin.port);
  const chunked = `${HIDDEN.length.toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`;
  const requests = {
    // The spliced path: a plain HTTP/1.1 request with a Content-Length body.
    'spliced, Content-Length': `POST http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\nContent-Length: ${HIDDEN.length}\r\nConnection: Content-Length\r\n\r\n${HIDDEN}`,
    'spliced, among other tokens': `POST http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\nContent-Length: ${HIDDEN.length}\r\nConnection: keep-alive\r\nconnection: x-a,  CONTENT-LENGTH \r\n\r\n${HIDDEN}`,
    'spliced, Host': 'GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\nConnection: host\r\n\r\n',
    // Node's path: HTTP/1.0, and a chunked body (Node's client would send a GET's body unframed).
    'Node, HTTP/1.0 Content-Length': `GET http://web.team-a/ HTTP/1.0\r\nHost: web.team-a\r\nContent-Length: ${HIDDEN.length}\r\nConnection: content-length\r\n\r\n${HIDDEN}`,
    'Node, Transfer-Encoding': `GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n${chunked}`,
    'Node, HTTP/1.0 Host': 'GET http://web.team-a/ HTTP/1.0\r\nHost: web.team-a\r\nConnection: Host\r\n\r\n',
  };
  for (const [name, request] of Object.entries(requests)) {
    const outcome = await exchange(proxy.port, [request]);
    t.regex(outcome.text, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*connection: close\r\n[\s\S]*Connection header lists (content-length|transfer-encoding|host)/i, name);
    t.is(receivedText(origin), '', name);
  }
  t.is(proxy.dials(), 0);
});

test('an answer whose Connection lists Content-Length or Transfer-Encoding is a 502 on either path, never passed on unframed', async (t) => {
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, Transfer-Encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  ];
  for (const answer of answers) {
    const origin = await startOrigin(t, (socket) => socket.write(answer));
    const proxy = await startProxy(t, origin.port);
    for (const version of ['1.1', '1.0']) {
      const outcome = await exchange(proxy.port, [`GET http://web.team-a/ HTTP/${version}\r\nHost: web.team-a\r\n\r\n`], /\r\n\r\n[\s\S]*\n$/);
      t.regex(outcome.text, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*Connection header lists (content-length|transfer-encoding)/, `HTTP/${version}: ${answer}`);
    }
  }
});

test('an answer with both Transfer-Encoding and Content-Length is a 502 on the spliced path, as Node’s client makes it on the other', async (t) => {
  const origin = await startOrigin(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'));
  const proxy = await startProxy(t, origin.port);
  const spliced = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.1\r\nHost: web.team-a\r\n\r\n'], /\r\n\r\n[\s\S]*\n$/);
  t.regex(spliced.text, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*both Transfer-Encoding and Content-Length/);
  const node = await exchange(proxy.port, ['GET http://web.team-a/ HTTP/1.0\r\nHost: web.team-a\r\n\r\n'], /\r\n\r\n[\s\S]*\n$/);
  t.regex(node.text, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*got an answer from web\.team-a:80 that is not valid HTTP\/1\.1 \(Parse Error: Transfer-Encoding can't be present with Content-Length\)/);
});

test('a header named `Proxy-` is not passed on, like every Proxy-* header', async (t) => {
  const origin = await okOrigin(t);
  const proxy = await startProxy(t, origin.port);
  for (const version of ['1.1', '1.0']) {
    const outcome = await exchange(proxy.port, [`GET http://web.team-a/ HTTP/${version}\r\nHost: web.team-a\r\nProxy-: a\r\nPROXY-x: b\r\nX-Keep: c\r\n\r\n`], /ok$/);
    t.regex(outcome.text, /^HTTP\/1\.1 200 OK\r\n/);
  }
  const sent = receivedText(origin);
  t.regex(sent, /^GET \/ HTTP\/1\.1\r\nhost: web.team-a\r\nX-Keep: c\r\n\r\nGET \/ HTTP\/1\.1\r\n/);
  t.notRegex(sent, /proxy-/i);
});

test('heads: Connection never removes a framing or routing header, such answers are FramingErrors, and Node-joined Connection values are read alike', (t) => {
  const request = parseRequestHead(Buffer.from('POST http://x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: Content-Length, x-drop\r\nX-Drop: 1\r\nProxy-: a\r\n\r\n'))!;
  t.is(rewriteHead(request, 'POST / HTTP/1.1', 'host: x\r\n', '', true).toString('latin1'), 'POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 3\r\n\r\n');
  for (const answer of ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n']) {
    const response = parseResponseHead(Buffer.from(answer));
    for (const method of ['GET', 'HEAD']) t.throws(() => responseFraming(method, response), { instanceOf: FramingError }, answer);
  }
  t.is(framingListedIn('keep-alive, Transfer-Encoding'), 'transfer-encoding');
  t.is(framingListedIn(' x-a ,HOST'), 'host');
  t.is(framingListedIn('keep-alive, x-content-length'), undefined);
  t.is(framingListedIn(undefined), undefined);
});

// Fuzz target: what the traffic-agent does with the first bytes of a connection from a pod on an
// intercepted port (src/agent/agent.ts firstBytesKind, src/agent/http-router.ts): sort them into
// HTTP/1, h2c or other; parse HTTP/1 request heads with Node's parser under the router's own
// limits; route each request (src/agent/intercept-table.ts, header-match.ts); and, for upgrades,
// rebuild the head that is written to the chosen side. Contract: none of it throws; every route
// is the app or one of the table's intercepts; a rebuilt head parses back to the same request.
import { createServer, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { deepStrictEqual } from 'node:assert';
import { firstBytesKind } from '../../../src/agent/agent.js';
import { requestPath } from '../../../src/agent/header-match.js';
import { MAX_HEADER_BYTES, requestHead } from '../../../src/agent/http-router.js';
import { InterceptTable } from '../../../src/agent/intercept-table.js';
import { check } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/agent/agent.ts', 'src/agent/header-match.ts', 'src/agent/http-router.ts'];

const APP_PORT = 8080;
const table = new InterceptTable();
table.replace([
  { id: 'by-header', name: 'by-header', client: 'alice@laptop', mode: 'personal', containerPort: APP_PORT, headers: { 'x-tp-intercept': 'alice' } },
  { id: 'by-path', name: 'by-path', client: 'bob@laptop', mode: 'personal', containerPort: APP_PORT, pathPrefix: '/api/' },
  { id: 'both', name: 'both', client: 'carol@laptop', mode: 'personal', containerPort: APP_PORT, pathPrefix: '/b', headers: { Cookie: 'a=1, b=2', 'X-Env': 'dev' } },
]);

type Head = Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'>;

// The router's server options; it is never listening: sockets are handed to it, as in the agent.
const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0 });
server.on('clientError', (_error: Error, socket: Duplex) => socket.destroy());

/** The request heads Node's parser reads from `bytes` sent on one connection that then ends. */
function parseHeads(bytes: Buffer): Promise<Head[]> {
  return new Promise((resolve) => {
    const heads: Head[] = [];
    const keep = (request: IncomingMessage): void => {
      const { method, url, httpVersion, rawHeaders } = request;
      heads.push({ method, url, httpVersion, rawHeaders });
    };
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        done();
      },
    });
    const onRequest = (request: IncomingMessage, response: import('node:http').ServerResponse): void => {
      if (request.socket !== socket) return;
      keep(request);
      request.resume();
      response.end();
    };
    const onTakeover = (request: IncomingMessage, taken: Duplex): void => {
      if (taken !== socket) return;
      keep(request);
      socket.destroy();
    };
    server.on('request', onRequest);
    server.on('upgrade', onTakeover);
    server.on('connect', onTakeover);
    socket.on('error', () => {});
    socket.once('close', () => {
      server.off('request', onRequest);
      server.off('upgrade', onTakeover);
      server.off('connect', onTakeover);
      resolve(heads);
    });
    server.emit('connection', socket);
    socket.push(bytes);
    socket.push(null);
  });
}

export async function fuzz(data: Buffer): Promise<void> {
  const kind = firstBytesKind(data);
  check(kind === 'http1' || kind === 'h2c' || kind === 'other', `first bytes kind ${kind}`);
  if (kind !== 'http1') return;
  for (const head of await parseHeads(data)) {
    const route = table.routeRequest(APP_PORT, { url: head.url ?? '/', rawHeaders: head.rawHeaders });
    check(route.to === 'app' || table.all.includes(route.intercept), 'a route to an unknown intercept');
    check(typeof requestPath(head.url ?? '/') === 'string', 'request path');
    // What onUpgrade writes to the app or the intercept. An upgrade needs headers, so HTTP/1.x
    // (Node also reads a request line without a version, as HTTP/0.9, which has no head to rebuild).
    if (head.httpVersion !== '1.0' && head.httpVersion !== '1.1') continue;
    const again = await parseHeads(requestHead(head as IncomingMessage));
    check(again.length === 1, `a rebuilt head parses to ${again.length} requests`);
    deepStrictEqual(again[0], head);
  }
}

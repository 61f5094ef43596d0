// The HTTP router on its own (no agent, no manager): what it does to the client connections
// it is handed.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { HttpRouter } from '../../src/agent/http-router.js';
import { InterceptTable } from '../../src/agent/intercept-table.js';
import { get } from './helpers/servers.js';

/**
 * A router in front of `app` with a personal intercept no request here matches (so connections
 * are routed and requests go to the app); `onSocket` sees each client connection first.
 */
async function routerInFront(t: ExecutionContext, app: http.Server, onSocket: (socket: net.Socket) => void = () => undefined): Promise<number> {
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.teardown(() => app.close());
  const appPort = (app.address() as AddressInfo).port;
  const table = new InterceptTable();
  table.replace([{ id: 'p1', name: 'p1', mode: 'personal', containerPort: appPort, client: 'alice@laptop', headers: { 'x-dev': 'alice' } }]);
  const router = new HttpRouter({ appHost: '127.0.0.1', appPort, table, openIntercept: () => Promise.reject(new Error('not in this test')) });
  const front = net.createServer({ allowHalfOpen: true }, (socket) => {
    onSocket(socket);
    router.handle(socket, 'c1');
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.teardown(() => front.close());
  return (front.address() as AddressInfo).port;
}

test('the router turns Nagle off on the client connections it takes, which Node HTTP servers do only on connections they accept themselves', async (t) => {
  // An answer in two writes (a chunk, then the last chunk): with Nagle on the client's socket
  // the second waits for the client's delayed ACK (~40 ms a request on keep-alive).
  const app = http.createServer((_request, response) => {
    response.write('hello ');
    setImmediate(() => response.end('world\n'));
  });
  const noDelay: (boolean | undefined)[] = [];
  const frontPort = await routerInFront(t, app, (socket) => {
    const setNoDelay = socket.setNoDelay.bind(socket);
    socket.setNoDelay = (value?: boolean) => {
      noDelay.push(value ?? true);
      return setNoDelay(value);
    };
  });
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const answer = await get(frontPort, '/', { agent });
  t.is(answer.body, 'hello world\n');
  t.deepEqual(noDelay, [true]);
});

test('a request whose Connection header lists Content-Length reaches the app as one request with its body, never as two', async (t) => {
  // Stripping a Connection-listed Content-Length would leave Node's client sending the GET's
  // body unframed, and the app would read it as a second request the router never routed.
  const seen: string[] = [];
  const app = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push(`${request.method} ${request.url} body=${body.length}`);
      response.end('ok');
    });
  });
  const frontPort = await routerInFront(t, app);
  const hidden = 'GET /admin HTTP/1.1\r\nHost: web\r\n\r\n';
  const client = net.connect(frontPort, '127.0.0.1');
  t.teardown(() => client.destroy());
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  client.end(`GET / HTTP/1.1\r\nHost: web\r\nConnection: content-length\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`);
  await new Promise((resolve) => client.once('close', resolve));
  t.true(answer.startsWith('HTTP/1.1 200'), answer);
  t.deepEqual(seen, [`GET / body=${hidden.length}`]);
});

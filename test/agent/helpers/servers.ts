// Real servers and clients for agent tests: an HTTP server that says who it is in every answer
// ("app", "laptop-alice"…) and counts its connections, a TCP echo server, and a keep-alive
// HTTP GET that reports which client socket carried the request.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

export interface NamedServer {
  name: string;
  port: number;
  connections: number;
  requests: { url: string; headers: http.IncomingHttpHeaders }[];
}

export async function startNamedHttpServer(t: ExecutionContext, name: string): Promise<NamedServer> {
  const state: NamedServer = { name, port: 0, connections: 0, requests: [] };
  const server = http.createServer((request, response) => {
    state.requests.push({ url: request.url ?? '', headers: request.headers });
    request.resume();
    request.on('end', () => {
      const body = `${name} ${request.method} ${request.url}\n`;
      response.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name, 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  state.port = (server.address() as AddressInfo).port;
  return Object.assign(state, { server });
}

/** Echoes every byte back and half-closes when the peer does; `received` holds what arrived. */
export async function startEchoServer(t: ExecutionContext): Promise<{ port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, received };
}

/** Sends `data`, half-closes, and collects everything the other side sends until it ends. */
export function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
    socket.end(data);
  });
}

export interface GetResult {
  status: number;
  body: string;
  servedBy: string | undefined;
  /** The client's local port: the same value means the same connection. */
  clientPort: number | undefined;
  reused: boolean;
}

export function get(port: number, path: string, options: { headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, headers: options.headers, agent: options.agent ?? false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          servedBy: response.headers['x-served-by'] as string | undefined,
          clientPort: request.socket?.localPort ?? clientPort,
          reused: request.reusedSocket,
        }),
      );
      response.on('error', reject);
    });
    let clientPort: number | undefined;
    request.on('socket', (socket) => {
      const note = (): void => {
        clientPort = socket.localPort;
      };
      if (socket.localPort) note();
      else socket.once('connect', note);
    });
    request.on('error', reject);
  });
}

export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

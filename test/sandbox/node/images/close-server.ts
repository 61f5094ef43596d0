// Image tp/close-server: an HTTP/1.0-style server on $PORT (default 8080) that ends each
// connection a chosen way, for the close-semantics matrix (test/e2e/close). It parses only the
// request line and the head, so raw TCP clients, curl and proxies can all drive it:
//   GET /big/<n>          n pattern bytes (Content-Length: n), then the server ends (FIN) first.
//   POST /upload/<n>      reads the body until the client's FIN, answers "<bytes> <sha256>\n" and
//                         n pattern bytes, then ends.
//   GET /reset/<n>        n pattern bytes announced but only part written, then a TCP RST.
//   GET /hold/<id>        answers "ready\n" and waits; remembers whether the client's side then
//                         ended with a FIN ("end") or a reset ("reset").
//   GET /outcome/<id>     what /hold/<id> saw: "end", "reset" or "pending".
//   anything else         "ok\n" (readiness probes).
// The laptop side of the intercept cases runs the same server in the test process
// (startCloseServer). Leaves out keep-alive: one request per connection.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/** Longest request head read before the connection is dropped. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Largest body a request may ask for. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const BLOCK = patternBlock();

/** 64 KiB of fixed, non-repeating-looking bytes; bodies are this block repeated. */
function patternBlock(): Buffer {
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += 32) createHash('sha256').update(`tp-close-${i}`).digest().copy(block, i);
  return block;
}

/** The first n bytes of the pattern every body is cut from. */
export function patternBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let at = 0; at < n; at += BLOCK.length) BLOCK.copy(out, at, 0, Math.min(BLOCK.length, n - at));
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface CloseServer {
  port: number;
  /** How each /hold/<id> connection ended. */
  outcomes: Map<string, 'end' | 'reset'>;
  close(): Promise<void>;
}

export function startCloseServer(port: number, host: string): Promise<CloseServer> {
  const outcomes = new Map<string, 'end' | 'reset'>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    readHead(socket, (line, rest) => serve(socket, line, rest, outcomes));
  });
  return new Promise((resolve) => {
    server.listen(port, host, () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        outcomes,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

function readHead(socket: net.Socket, then: (requestLine: string, rest: Buffer) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const end = seen.indexOf('\r\n\r\n');
    if (end < 0) {
      if (seen.length > MAX_HEAD_BYTES) socket.destroy();
      return;
    }
    socket.off('data', onData);
    socket.pause();
    then(seen.subarray(0, seen.indexOf('\r\n')).toString('latin1'), seen.subarray(end + 4));
  };
  socket.on('data', onData);
}

function serve(socket: net.Socket, requestLine: string, rest: Buffer, outcomes: Map<string, 'end' | 'reset'>): void {
  const [, path = '/'] = requestLine.split(' ');
  const [, kind = '', arg = ''] = new URL(path, 'http://x').pathname.split('/');
  const n = Math.min(Number(arg) || 0, MAX_BODY_BYTES);
  const head = (length?: number): string => `HTTP/1.0 200 OK\r\ncontent-type: application/octet-stream\r\n${length === undefined ? '' : `content-length: ${length}\r\n`}connection: close\r\n\r\n`;
  switch (kind) {
    case 'big':
      socket.write(head(n));
      return writeThen(socket, patternBytes(n), () => socket.end());
    case 'upload': {
      const hash = createHash('sha256').update(rest);
      let count = rest.length;
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        count += chunk.length;
      });
      socket.once('end', () => {
        const summary = `${count} ${hash.digest('hex')}\n`;
        socket.write(head(summary.length + n) + summary);
        writeThen(socket, patternBytes(n), () => socket.end());
      });
      return void socket.resume();
    }
    case 'reset':
      socket.write(head(n));
      return writeThen(socket, patternBytes(Math.floor(n / 2)), () => socket.resetAndDestroy());
    case 'hold':
      outcomes.delete(arg);
      socket.removeAllListeners('error');
      socket.on('error', () => outcomes.set(arg, 'reset'));
      // libuv reports an RST that comes with unread bytes as an end: a zero-length write fails
      // with ECONNRESET on a reset socket (the 'error' above records it), works after a FIN.
      socket.once('end', () =>
        socket.write(Buffer.alloc(0), (error) => {
          if (error) return;
          outcomes.set(arg, 'end');
          socket.end();
        }),
      );
      socket.write(head() + 'ready\n');
      return void socket.resume();
    case 'outcome': {
      const body = `${outcomes.get(arg) ?? 'pending'}\n`;
      return void socket.end(head(body.length) + body);
    }
    default:
      return void socket.end(head(3) + 'ok\n');
  }
}

/** Writes with backpressure (the slow reader's pace), then calls `then`. */
function writeThen(socket: net.Socket, data: Buffer, then: () => void): void {
  socket.resume();
  let at = 0;
  const more = (): void => {
    while (at < data.length && !socket.destroyed) {
      const chunk = data.subarray(at, at + BLOCK.length);
      at += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', more);
    }
    if (!socket.destroyed) then();
  };
  more();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.env.PORT ?? 8080);
  void startCloseServer(port, '0.0.0.0').then((server) => {
    console.log(`close-server listening on :${server.port}`);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
  });
}

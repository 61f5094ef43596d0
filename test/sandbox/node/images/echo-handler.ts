// The HTTP handler shared by the echo images: answers every request with the pod's name (from
// $HOSTNAME), namespace ($POD_NAMESPACE if set), method, path, headers and body, as JSON — or as
// plain text when the client asks for text/plain — so tests can tell which pod answered. GET
// /healthz answers "ok". Bodies are cut at MAX_BODY_BYTES. Used by echo-server.ts, tls-echo-server.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';

export const MAX_BODY_BYTES = 1 << 20;

export function echoHandler(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  request.on('end', () => {
    if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const echo = {
      pod: process.env.HOSTNAME ?? '',
      namespace: process.env.POD_NAMESPACE ?? '',
      method: request.method,
      path: request.url,
      headers: request.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    if ((request.headers.accept ?? '').startsWith('text/plain')) {
      const lines = [`pod: ${echo.pod}`, `method: ${echo.method}`, `path: ${echo.path}`,
        ...Object.entries(echo.headers).map(([name, value]) => `${name}: ${String(value)}`)];
      response.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\n') + '\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo) + '\n');
  });
}

/** $PORT as a number, or the default; exits with a clear message when it is not a port. */
export function portFromEnv(fallback: number): number {
  const port = Number(process.env.PORT ?? fallback);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`PORT=${process.env.PORT} is not a valid port`);
    process.exit(2);
  }
  return port;
}

/** Exit promptly on SIGTERM like a well-behaved container. */
export function exitOnSignals(close: () => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: shutting down`);
      close();
      setTimeout(() => process.exit(0), 200).unref();
    });
  }
}

// The laptop end of an intercepted connection: the manager opens a stream toward this client for
// one of its intercepts; we connect to the intercept's local address and port and pipe. Only the
// address and port the intercept was created with are dialled, whatever the stream asks for.
// When nothing listens there, the intercept keeps a warning for `tp status`, and if the stream
// starts with an HTTP request it is answered with a 502 that says so (anything else is reset).
// Used by intercept-feature.ts.
import net from 'node:net';
import { logger } from '../../log/logger.js';
import { pipeSocket, type IncomingOpen, type TunnelStream } from '../../tunnel/index.js';

const log = logger('tp:intercept:local');
/** How much of the first request we read to see whether it is HTTP. */
const MAX_PEEK_BYTES = 8192;
const PEEK_TIMEOUT_MS = 5000;
const REQUEST_LINE = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;
const CONNECT_TIMEOUT_MS = 5000;

export interface LocalTarget {
  name: string;
  laptopAddress: string;
  laptopPort: number;
  /** Set while connections to the local port fail; cleared by the next success. */
  setWarning(warning: string | undefined): void;
}

export function forwardToLaptop(open: IncomingOpen, target: LocalTarget): void {
  const where = `${target.laptopAddress}:${target.laptopPort}`;
  const peer = typeof open.metadata?.peer === 'string' ? open.metadata.peer : '?';
  const socket = net.connect({ host: target.laptopAddress, port: target.laptopPort, allowHalfOpen: true });
  const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
  socket.once('connect', () => {
    clearTimeout(timer);
    socket.removeAllListeners('error');
    target.setWarning(undefined);
    if (open.settled) return void socket.destroy();
    log('-> %s: %s to %s', target.name, peer, where);
    pipeSocket(open.accept(), socket);
  });
  socket.once('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    const warning = `nothing is listening on ${where} (${err.code ?? err.message})`;
    log.info('!! %s: %s', target.name, warning);
    target.setWarning(warning);
    if (open.settled) return;
    answerUnreachable(open.accept(), target.name, where);
  });
}

/** A 502 for an HTTP request, a reset for anything else. */
function answerUnreachable(stream: TunnelStream, name: string, where: string): void {
  let seen = Buffer.alloc(0);
  const timer = setTimeout(() => stream.destroy(), PEEK_TIMEOUT_MS);
  stream.on('error', () => clearTimeout(timer));
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const text = seen.toString('latin1');
    if (REQUEST_LINE.test(text)) {
      clearTimeout(timer);
      stream.off('data', onData);
      const body = `tp: intercept "${name}" sent this request to ${where} on the laptop of whoever holds it, but nothing is listening there. Start the local server, or run \`tp leave ${name}\`.\n`;
      stream.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      stream.resume();
    } else if (text.includes('\n') || seen.length >= MAX_PEEK_BYTES) {
      clearTimeout(timer);
      stream.destroy();
    }
  };
  stream.on('data', onData);
}

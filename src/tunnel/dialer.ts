// Answers incoming opens by dialling TCP: connect to the requested host and port, accept the
// open and pipe on success, reject it with the matching protocol code on failure (refused,
// dns, timeout, unreachable). `dial` is a hook (default net.connect) so callers can add policy
// (forbidden destinations) or a different network. Used by the traffic-manager and the benchmark.
import net, { type Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { Deadlines } from './deadlines.js';
import type { IncomingOpen } from './incoming-open.js';
import type { ErrorCodeName } from './protocol.js';
import { pipeSocket } from './socket-pipe.js';

const log = logger('tp:tunnel');

/** Every dial's connect timeout, on one timer. */
const connectDeadlines = new Deadlines(true);

export interface DialOptions {
  /** Opens the TCP connection. Default net.connect({ host, port, allowHalfOpen: true }). */
  dial?: (host: string, port: number) => Socket;
  /** Gives up connecting after this. Default 10 s. */
  connectTimeoutMs?: number;
}

/** The open-error code for a failed connect's errno. */
export function openErrorCode(error: NodeJS.ErrnoException): ErrorCodeName {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return 'dns';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return 'unreachable';
    case 'EACCES':
    case 'EPERM':
      return 'forbidden';
    default:
      return 'internal';
  }
}

/** Dials open.host:open.port and answers the open; resolves once answered. */
export function acceptByDialing(open: IncomingOpen, options: DialOptions = {}): Promise<void> {
  const dial = options.dial ?? ((host, port) => net.connect({ host, port, allowHalfOpen: true }));
  return new Promise((resolve) => {
    // The opener gave up while the caller was still deciding (a DNS check, a policy): no dial.
    if (open.cancelled) return resolve();
    let socket: Socket;
    try {
      socket = dial(open.host, open.port);
    } catch (error) {
      open.reject('internal', (error as Error).message);
      return resolve();
    }
    const timer = connectDeadlines.add(options.connectTimeoutMs ?? 10_000, () => {
      socket.destroy(Object.assign(new Error(`connect to ${open.host}:${open.port} timed out`), { code: 'ETIMEDOUT' }));
    });
    open.onCancel(() => {
      connectDeadlines.remove(timer);
      socket.destroy();
      resolve();
    });
    const fail = (error: NodeJS.ErrnoException): void => {
      connectDeadlines.remove(timer);
      open.onCancel(null);
      log.info('.. !! dial %s:%d: %s', open.host, open.port, error.code ?? error.message);
      open.reject(openErrorCode(error), `${open.host}:${open.port}: ${error.code ?? error.message}`);
      resolve();
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      connectDeadlines.remove(timer);
      socket.off('error', fail);
      open.onCancel(null);
      if (open.cancelled) {
        socket.destroy();
        return resolve();
      }
      pipeSocket(open.accept(), socket);
      resolve();
    });
  });
}

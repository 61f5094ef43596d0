// The CLI's side of the control channel: connects to the daemon's socket, sends one request at a
// time and waits for its answer. A missing socket or a daemon that does not answer becomes a
// TpError the caller can act on (usually: the daemon is not running). See control-protocol.ts.
import { connect, type Socket } from 'node:net';
import { errorFromBody, TpError } from '../errors.js';
import { lineSplitter, type ControlResponse } from './control-protocol.js';

export class ControlCaller {
  private nextId = 1;
  /** Why the connection can take no more calls (the first connection-level error wins). */
  private failed: Error | undefined;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    socket.on(
      'data',
      lineSplitter(
        (line) => this.settle(JSON.parse(line) as ControlResponse),
        () => socket.destroy(new Error('the daemon sent an overlong line')),
      ),
    );
    socket.on('close', () => this.failAll(new TpError('TP_ERR_DAEMON_GONE', 'The daemon closed the control connection.', { hints: ['Run `tp status` to see whether it is still running.'] })));
    socket.on('error', () => undefined);
  }

  /** Connects to the daemon; rejects with TP_ERR_DAEMON_NOT_RUNNING if nothing listens there. */
  static async connect(socketPath: string, timeoutMs = 2000): Promise<ControlCaller> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(notRunning());
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new ControlCaller(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(notRunning(err));
      });
    });
  }

  async call<T>(method: string, params?: unknown, timeoutMs = 30_000): Promise<T> {
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new TpError('TP_ERR_DAEMON_TIMEOUT', `The daemon did not answer "${method}" within ${timeoutMs} ms.`, { hints: ['Look at the daemon log (`tp status` names it), or run `tp quit` and connect again.'] }));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
    this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    return answer as Promise<T>;
  }

  close(): void {
    this.socket.end();
  }

  private settle(response: ControlResponse): void {
    // id -1: the daemon answered the connection, not a request (over its cap, or a line it could not read).
    if (response.id === -1 && 'error' in response) return this.failAll(errorFromBody(response.error, 'TP_ERR_DAEMON_INTERNAL'));
    const waiter = this.waiting.get(response.id);
    if (!waiter) return;
    this.waiting.delete(response.id);
    if ('error' in response) waiter.reject(errorFromBody(response.error, 'TP_ERR_DAEMON_INTERNAL'));
    else waiter.resolve(response.result);
  }

  private failAll(err: Error): void {
    this.failed ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }
}

function notRunning(cause?: unknown): TpError {
  return new TpError('TP_ERR_DAEMON_NOT_RUNNING', 'The tp daemon is not running.', { cause, hints: ['Run `tp connect` to start it.'] });
}

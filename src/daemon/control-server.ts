// The daemon's side of the control channel: listens on the user's control socket and dispatches
// each request to a named handler. A malformed line gets an error answer (or, for an overlong
// line, the connection closed); the daemon lives on. See control-protocol.ts for the wire format.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import createDebug from 'debug';
import { TpError } from '../errors.js';
import { lineSplitter, parseControlRequest, type ControlResponse } from './control-protocol.js';

const log = createDebug('tp:daemon:control');

export type ControlHandler = (params: unknown) => Promise<unknown> | unknown;

export class ControlServer {
  private readonly server: Server;
  private readonly handlers = new Map<string, ControlHandler>();
  private readonly sockets = new Set<Socket>();
  private closed = false;

  constructor(private readonly socketPath: string) {
    this.server = createServer((socket) => this.serve(socket));
  }

  handle(method: string, handler: ControlHandler): this {
    this.handlers.set(method, handler);
    return this;
  }

  async listen(): Promise<void> {
    // A socket file left by a daemon that died is stale: the caller checked no daemon answers.
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.socketPath, 0o600);
  }

  /** Stops accepting, ends open connections, removes the socket file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets) socket.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => log('!! control connection: %s', err.message));
    const reply = (response: ControlResponse): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
    };
    socket.on(
      'data',
      lineSplitter(
        (line) => void this.dispatch(line).then(reply),
        () => socket.destroy(),
      ),
    );
  }

  private async dispatch(line: string): Promise<ControlResponse> {
    const request = parseControlRequest(line);
    if (!request) {
      return { id: -1, error: { code: 'TP_ERR_CONTROL_MALFORMED', message: 'The control request was not valid JSON with an id and a method.' } };
    }
    const handler = this.handlers.get(request.method);
    if (!handler) {
      return { id: request.id, error: { code: 'TP_ERR_CONTROL_UNKNOWN_METHOD', message: `The daemon has no method "${request.method}".`, hints: ['The CLI and the daemon may be different versions: run `tp quit`, then try again.'] } };
    }
    log('<- %d %s', request.id, request.method);
    try {
      return { id: request.id, result: (await handler(request.params)) ?? null };
    } catch (err) {
      const error = err instanceof TpError ? err : new TpError('TP_ERR_DAEMON_INTERNAL', (err as Error).message, { category: 'internal', cause: err });
      log('!! %d %s: %s', request.id, request.method, error.code);
      return { id: request.id, error: { code: error.code, message: error.message, hints: error.hints } };
    }
  }
}

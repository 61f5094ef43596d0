// The daemon's side of the control channel: listens on the user's control socket and dispatches
// each request to a named handler. A malformed line gets an error answer (or, for an overlong
// line, the connection closed); the daemon lives on. See control-protocol.ts for the wire format.
// Bounds (proxy/limits.ts): the first line must arrive, and every line must be complete, within
// a deadline (else the connection is closed); past the connection cap a client gets one error
// line and is closed.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { TpError } from '../errors.js';
import { CONTROL_LINE_DEADLINE_MS, MAX_CONTROL_CONNECTIONS } from '../proxy/limits.js';
import { lineSplitter, parseControlRequest, type ControlResponse } from './control-protocol.js';

const log = logger('tp:daemon:control');

export type ControlHandler = (params: unknown) => Promise<unknown> | unknown;

export interface ControlServerLimits {
  /** Default CONTROL_LINE_DEADLINE_MS. */
  lineDeadlineMs?: number;
  /** Default MAX_CONTROL_CONNECTIONS. */
  maxConnections?: number;
}

/** How long a refused client has to read its error line. */
const REFUSAL_GRACE_MS = 1_000;

export class ControlServer {
  private readonly server: Server;
  private readonly handlers = new Map<string, ControlHandler>();
  private readonly sockets = new Set<Socket>();
  private closed = false;

  constructor(
    private readonly socketPath: string,
    private readonly limits: ControlServerLimits = {},
  ) {
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
    socket.on('error', (err) => log('!! control connection: %s', err.message));
    const reply = (response: ControlResponse): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
    };
    const maxConnections = this.limits.maxConnections ?? MAX_CONTROL_CONNECTIONS;
    if (this.sockets.size >= maxConnections) {
      log('!! control connection refused: %d open, the most the daemon takes', maxConnections);
      const message = `The daemon already has ${maxConnections} control connections open, the most it takes.`;
      reply({ id: -1, error: { code: 'TP_ERR_CONTROL_BUSY', message, hints: ['Wait for other tp commands to finish, then try again.'] } });
      socket.end();
      setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const splitLines = lineSplitter(
      (line) => void this.dispatch(line).then(reply),
      () => socket.destroy(),
    );
    // Runs from accept until the first line, and from the first byte of each later line to its newline.
    const deadlineMs = this.limits.lineDeadlineMs ?? CONTROL_LINE_DEADLINE_MS;
    let deadline: NodeJS.Timeout | undefined;
    const startDeadline = (): void => {
      clearTimeout(deadline);
      deadline = setTimeout(() => {
        log('!! control connection: no complete line within %d ms; closing', deadlineMs);
        socket.destroy();
      }, deadlineMs);
    };
    startDeadline();
    socket.once('close', () => clearTimeout(deadline));
    socket.on('data', (chunk: Buffer) => {
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline === chunk.length - 1) {
        clearTimeout(deadline);
        deadline = undefined;
      } else if (lastNewline !== -1 || deadline === undefined) {
        startDeadline();
      }
      splitLines(chunk);
    });
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
      const error = err instanceof TpError ? err : new TpError('TP_ERR_DAEMON_INTERNAL', (err as Error).message, { cause: err });
      log.info('!! %d %s: %s', request.id, request.method, error.code);
      return { id: request.id, error: { code: error.code, message: error.message, hints: error.hints } };
    }
  }
}

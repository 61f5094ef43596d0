// The session's control channel: JSON messages on stream 0, with a small request/response RPC on
// top (session hello, DNS lookups, intercept events). Message shapes:
//   { kind: 'event', type, body }                 a one-way message
//   { kind: 'request', id, method, params }       answered by exactly one response
//   { kind: 'response', id, result } | { kind: 'response', id, error: { code, message } }
// Unknown fields are ignored (protocol compatibility rule); a message of another shape is a
// protocol error. It leaves out the transport: `send` is given by the session.
import { protocolError, RemoteCallError, TunnelError, type TunnelErrorCode } from './errors.js';

export type RpcHandler = (params: unknown) => unknown;

/** The codes this side puts in an error response of its own (a handler's error keeps its code). */
const NO_METHOD: TunnelErrorCode = 'TP_ERR_TUNNEL_RPC_NO_METHOD';
const FAILED: TunnelErrorCode = 'TP_ERR_TUNNEL_RPC_FAILED';

export interface ControlEvent {
  type: string;
  body: unknown;
}

interface PendingRequest {
  method: string;
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class ControlChannel {
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private closedWith: TunnelError | null = null;

  constructor(
    private readonly send: (message: unknown) => void,
    private readonly onEvent: (event: ControlEvent) => void,
  ) {}

  handle(method: string, handler: RpcHandler): void {
    this.handlers.set(method, handler);
  }

  notify(type: string, body: unknown): void {
    if (this.closedWith) throw this.closedWith;
    this.send({ kind: 'event', type, body });
  }

  request(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TunnelError('TP_ERR_TUNNEL_RPC_TIMEOUT', `no answer to control request ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { method, resolve, reject, timer });
      try {
        this.send({ kind: 'request', id, method, params });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }

  /** A CONTROL frame's message from the peer. Throws a protocol error for a malformed one. */
  receive(message: unknown): void {
    if (message === null || typeof message !== 'object') throw protocolError('control message is not an object');
    const m = message as Record<string, unknown>;
    switch (m.kind) {
      case 'event':
        if (typeof m.type !== 'string') throw protocolError('control event without a type');
        this.onEvent({ type: m.type, body: m.body });
        return;
      case 'request':
        if (typeof m.id !== 'number' || typeof m.method !== 'string') throw protocolError('control request without id or method');
        void this.answer(m.id, m.method, m.params);
        return;
      case 'response':
        if (typeof m.id !== 'number') throw protocolError('control response without an id');
        this.settle(m.id, m);
        return;
      default:
        throw protocolError(`control message of unknown kind ${JSON.stringify(m.kind)}`);
    }
  }

  /** Rejects every pending request; later calls fail with `error`. Idempotent. */
  close(error: TunnelError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const request of this.pending.values()) {
      clearTimeout(request.timer);
      request.reject(error);
    }
    this.pending.clear();
  }

  private settle(id: number, m: Record<string, unknown>): void {
    const request = this.pending.get(id);
    if (!request) return; // timed out already
    this.pending.delete(id);
    clearTimeout(request.timer);
    if (m.error !== undefined) {
      const e = (m.error ?? {}) as { code?: unknown; message?: unknown };
      const code = typeof e.code === 'string' ? e.code : FAILED;
      request.reject(new RemoteCallError(request.method, code, String(e.message ?? 'no message')));
    } else {
      request.resolve(m.result);
    }
  }

  private async answer(id: number, method: string, params: unknown): Promise<void> {
    const handler = this.handlers.get(method);
    let reply: unknown;
    if (!handler) {
      reply = { kind: 'response', id, error: { code: NO_METHOD, message: `no handler for ${method}` } };
    } else {
      try {
        reply = { kind: 'response', id, result: (await handler(params)) ?? null };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        const message = error instanceof Error ? error.message : String(error);
        reply = { kind: 'response', id, error: { code: typeof code === 'string' ? code : FAILED, message } };
      }
    }
    if (this.closedWith) return;
    try {
      this.send(reply);
    } catch (error) {
      // The result could not be sent (too large): the caller still gets an answer.
      this.send({ kind: 'response', id, error: { code: (error as { code?: string }).code ?? FAILED, message: (error as Error).message } });
    }
  }
}

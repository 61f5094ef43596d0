// IncomingOpen: a stream the peer asked to open, handed to the session's 'stream' listener, which
// must call accept() (a TunnelStream, ready to pipe) or reject(code, message) exactly once; the
// session's StreamOpener (stream-opener.ts) answers both. If the opener gives up first (RESET, or
// the session dies), `signal` aborts (and onCancel listeners run) and accept() throws. The
// AbortController is made only when someone asks for `signal`: most opens are answered within
// moments and never cancelled, and an EventTarget per open is a measurable part of its cost.
import { TunnelError } from './errors.js';
import type { OpenMetadata } from './frame.js';
import type { ErrorCodeName } from './protocol.js';
import type { TunnelStream } from './stream.js';

export interface OpenRequest {
  host: string;
  port: number;
  metadata?: OpenMetadata;
}

export interface IncomingOpenHost {
  acceptOpen(open: IncomingOpen): TunnelStream;
  rejectOpen(open: IncomingOpen, code: ErrorCodeName, message: string): void;
}

export class IncomingOpen {
  private controller: AbortController | null = null;
  private cancelledWith: Error | null = null;
  private listener: ((reason: Error) => void) | null = null;
  private answered = false;

  constructor(
    private readonly session: IncomingOpenHost,
    readonly streamId: number,
    readonly host: string,
    readonly port: number,
    readonly metadata: OpenMetadata,
    /** The opener's receive window: what the accepted stream may send before the first WINDOW. */
    readonly peerWindow: number,
  ) {}

  /** Aborts when the opener gives up before this open is answered. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.cancelledWith) this.controller.abort(this.cancelledWith);
    }
    return this.controller.signal;
  }

  /** True once the opener gave up (RESET, or the session died) before an answer. */
  get cancelled(): boolean {
    return this.cancelledWith !== null;
  }

  /** Calls `listener` once if the opener gives up before an answer, at once if it already has (one listener; null removes it). The cheap form of `signal`. */
  onCancel(listener: ((reason: Error) => void) | null): void {
    if (listener && this.cancelledWith && !this.answered) return void listener(this.cancelledWith);
    this.listener = listener;
  }

  get settled(): boolean {
    return this.answered || this.cancelled;
  }

  accept(): TunnelStream {
    if (this.cancelledWith) {
      throw new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', `open of ${this.host}:${this.port} was cancelled by the opener`, { cause: this.cancelledWith });
    }
    if (this.answered) throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', 'this open was already answered');
    this.answered = true;
    return this.session.acceptOpen(this);
  }

  reject(code: ErrorCodeName, message: string): void {
    if (this.answered || this.cancelledWith) return;
    this.answered = true;
    this.session.rejectOpen(this, code, message);
  }

  /** @internal */
  cancel(reason: Error): void {
    if (this.answered || this.cancelledWith) return;
    this.cancelledWith = reason;
    this.controller?.abort(reason);
    const listener = this.listener;
    this.listener = null;
    listener?.(reason);
  }
}

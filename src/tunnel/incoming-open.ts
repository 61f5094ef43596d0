// IncomingOpen: a stream the peer asked to open, handed to the session's 'stream' listener, which
// must call accept() (a TunnelStream, ready to pipe) or reject(code, message) exactly once; the
// session's StreamOpener (stream-opener.ts) answers both. If the opener gives up first (RESET, or
// the session dies), `signal` aborts and accept() throws.
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
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private answered = false;

  constructor(
    private readonly session: IncomingOpenHost,
    readonly streamId: number,
    readonly host: string,
    readonly port: number,
    readonly metadata: OpenMetadata,
    /** The opener's receive window: what the accepted stream may send before the first WINDOW. */
    readonly peerWindow: number,
  ) {
    this.signal = this.controller.signal;
  }

  get settled(): boolean {
    return this.answered || this.signal.aborted;
  }

  accept(): TunnelStream {
    if (this.signal.aborted) {
      throw new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', `open of ${this.host}:${this.port} was cancelled by the opener`, { cause: this.signal.reason });
    }
    if (this.answered) throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', 'this open was already answered');
    this.answered = true;
    return this.session.acceptOpen(this);
  }

  reject(code: ErrorCodeName, message: string): void {
    if (this.answered || this.signal.aborted) return;
    this.answered = true;
    this.session.rejectOpen(this, code, message);
  }

  /** @internal */
  cancel(reason: Error): void {
    if (this.answered) return;
    this.controller.abort(reason);
  }
}

// StreamOpener: how a session's streams come to exist. It sends our OPENs and keeps them pending
// until the peer answers (OPEN-OK makes the stream, OPEN-ERROR or the open timeout fails it), and
// turns the peer's OPENs into IncomingOpens for the session's 'stream' listener, refusing them at
// the session's limits or while it drains. It owns stream ids, the open limits and the receive
// window each new stream reserves. It leaves out the streams once open, frame parsing, go-away and
// the session's end: the session holds those and reaches in through `SessionSide`. Used by
// session.ts only; logs under the session's `tp:tunnel`.
import { logger } from '../log/logger.js';
import { Deadlines, type Deadline } from './deadlines.js';
import { OpenError, TunnelError } from './errors.js';
import { encodeFrame } from './frame-encoder.js';
import type { Frame } from './frame.js';
import { IncomingOpen, type IncomingOpenHost, type OpenRequest } from './incoming-open.js';
import { Limits, type ErrorCodeName } from './protocol.js';
import type { ResolvedSessionOptions } from './session-options.js';
import type { StreamTracker } from './stream-tracker.js';
import { TunnelStream, type StreamHost } from './stream.js';
import type { WindowBudget } from './window-budget.js';

const log = logger('tp:tunnel');

/** What the opener needs of its session. */
export interface SessionSide {
  readonly id: string;
  readonly options: Pick<ResolvedSessionOptions, 'role' | 'maxStreams' | 'maxPendingOpens' | 'initialWindow' | 'openTimeoutMs'>;
  /** Each new stream's host (the session itself). */
  readonly host: StreamHost;
  readonly tracker: StreamTracker;
  readonly budget: WindowBudget;
  /** Why the session ended, or null while it lives. */
  closedWith(): TunnelError | null;
  /** True once this side sent go-away. */
  draining(): boolean;
  /** True once the peer sent go-away. */
  peerDraining(): boolean;
  /** Streams open now, both directions, opens not counted. */
  streamCount(): number;
  sendFrame(frame: Frame): void;
  enqueue(bytes: Buffer): void;
  /** An open was answered with a stream. */
  started(stream: TunnelStream): void;
  /** An open ended without a stream. */
  ended(): void;
  /** Whether anyone listens for the peer's opens. */
  accepting(): boolean;
  /** Hands a peer's open to the 'stream' listener. */
  offer(open: IncomingOpen): void;
}

interface PendingOpen {
  request: OpenRequest;
  /** The receive window announced in our OPEN, reserved from the budget. */
  window: number;
  resolve(stream: TunnelStream): void;
  reject(error: Error): void;
  deadline: Deadline;
}

/** Also the host of each IncomingOpen: its accept() and reject() answer here. */
export class StreamOpener implements IncomingOpenHost {
  private readonly pending = new Map<number, PendingOpen>();
  private readonly incoming = new Map<number, IncomingOpen>();
  /** The open timeouts of `pending`, on one timer. */
  private readonly deadlines = new Deadlines();
  private nextStreamId: number;

  constructor(private readonly session: SessionSide) {
    this.nextStreamId = session.options.role === 'client' ? 1 : 2;
  }

  /** Our opens awaiting the peer's answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** The peer's opens awaiting our accept() or reject(). */
  get incomingCount(): number {
    return this.incoming.size;
  }

  /** Whether `streamId` is an open, in either direction, not yet answered. */
  awaiting(streamId: number): boolean {
    return this.pending.has(streamId) || this.incoming.has(streamId);
  }

  /** Opens a stream to host:port on the peer's side; rejects with OpenError (reason refused, dns…). */
  open(request: OpenRequest, timeoutMs: number | undefined): Promise<TunnelStream> {
    const session = this.session;
    const closedWith = session.closedWith();
    if (closedWith) return Promise.reject(closedWith);
    if (session.draining() || session.peerDraining()) {
      return Promise.reject(new TunnelError('TP_ERR_TUNNEL_GOING_AWAY', `session ${session.id} is draining and opens no new streams`, { reason: 'going-away' }));
    }
    if (session.streamCount() + this.pending.size >= session.options.maxStreams) {
      return Promise.reject(new TunnelError('TP_ERR_TUNNEL_LIMIT', `session ${session.id} is at its limit of ${session.options.maxStreams} streams`, { reason: 'limit' }));
    }
    if (this.pending.size >= session.options.maxPendingOpens) {
      return Promise.reject(new TunnelError('TP_ERR_TUNNEL_LIMIT', `session ${session.id} has ${session.options.maxPendingOpens} opens awaiting an answer`, { reason: 'limit' }));
    }
    const streamId = this.nextStreamId;
    if (streamId > Limits.MAX_STREAM_ID) {
      return Promise.reject(new TunnelError('TP_ERR_TUNNEL_LIMIT', `session ${session.id} has used all its stream ids; open a new session`, { reason: 'limit' }));
    }
    const window = session.budget.reserveInitial(session.options.initialWindow);
    const frame: Frame = {
      kind: 'open',
      streamId,
      window,
      host: request.host,
      port: request.port,
      metadata: request.metadata ?? {},
    };
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame);
    } catch (error) {
      session.budget.release(window);
      return Promise.reject(error);
    }
    this.nextStreamId += 2;
    session.tracker.openedByUs(streamId);
    const waitMs = timeoutMs ?? session.options.openTimeoutMs;
    return new Promise<TunnelStream>((resolve, reject) => {
      const deadline = this.deadlines.add(waitMs, () => {
        this.pending.delete(streamId);
        session.budget.release(window);
        session.tracker.closed(streamId, false);
        session.sendFrame({ kind: 'reset', streamId, code: 'cancel', message: 'open timed out' });
        reject(new OpenError('timeout', `opening ${request.host}:${request.port} timed out after ${waitMs} ms`));
      });
      this.pending.set(streamId, { request, window, resolve, reject, deadline });
      if (log.enabled) log('%s -> open %d %s:%d', session.id, streamId, request.host, request.port);
      session.enqueue(bytes);
    });
  }

  /** The peer's OPEN: refused at our limits, else offered to the 'stream' listener. */
  onOpen(frame: Extract<Frame, { kind: 'open' }>): void {
    const session = this.session;
    session.tracker.peerOpened(frame.streamId);
    if (log.enabled) log('%s <- open %d %s:%d', session.id, frame.streamId, frame.host, frame.port);
    const refuse = (code: ErrorCodeName, message: string): void => {
      session.tracker.closed(frame.streamId, true);
      session.sendFrame({ kind: 'open-error', streamId: frame.streamId, code, message });
    };
    if (session.draining()) return refuse('going-away', 'the session is draining');
    if (session.streamCount() + this.incoming.size >= session.options.maxStreams) return refuse('limit', `this side's limit of ${session.options.maxStreams} streams per tunnel is reached`);
    if (this.incoming.size >= session.options.maxPendingOpens) return refuse('limit', `this side already has ${session.options.maxPendingOpens} opens awaiting an answer on this tunnel`);
    if (!session.accepting()) return refuse('refused', 'this side accepts no streams');
    const open = new IncomingOpen(this, frame.streamId, frame.host, frame.port, frame.metadata, frame.window);
    this.incoming.set(frame.streamId, open);
    session.offer(open);
  }

  /** The peer's OPEN-OK or OPEN-ERROR for one of our opens. */
  onOpenAnswer(frame: Extract<Frame, { kind: 'open-ok' | 'open-error' }>): void {
    const session = this.session;
    const pending = this.pending.get(frame.streamId);
    if (!pending) {
      session.tracker.checkLateFrame(frame.streamId, frame.kind);
      return;
    }
    this.pending.delete(frame.streamId);
    this.deadlines.remove(pending.deadline);
    const { host, port } = pending.request;
    if (frame.kind === 'open-error') {
      log('%s <- open-error %d %s %s', session.id, frame.streamId, frame.code, frame.message);
      session.tracker.closed(frame.streamId, true);
      session.budget.release(pending.window);
      pending.reject(new OpenError(frame.code, `opening ${host}:${port} failed (${frame.code}): ${frame.message}`));
      session.ended();
      return;
    }
    if (log.enabled) log('%s <- open-ok %d', session.id, frame.streamId);
    const info = { id: frame.streamId, host, port, metadata: pending.request.metadata ?? {}, direction: 'outgoing' as const };
    const stream = new TunnelStream(session.host, info, frame.window, pending.window);
    session.started(stream);
    pending.resolve(stream);
  }

  /** A RESET for a stream that is not open: true if it cancelled one of the peer's opens. */
  onCancel(frame: Extract<Frame, { kind: 'reset' }>): boolean {
    const open = this.incoming.get(frame.streamId);
    if (!open) return false;
    this.incoming.delete(frame.streamId);
    this.session.tracker.closed(frame.streamId, true);
    open.cancel(new TunnelError('TP_ERR_TUNNEL_STREAM_RESET', `the opener cancelled: ${frame.message}`, { reason: frame.code }));
    this.session.ended();
    return true;
  }

  acceptOpen(open: IncomingOpen): TunnelStream {
    const session = this.session;
    this.incoming.delete(open.streamId);
    const closedWith = session.closedWith();
    if (closedWith) throw closedWith;
    const info = { id: open.streamId, host: open.host, port: open.port, metadata: open.metadata, direction: 'incoming' as const };
    const window = session.budget.reserveInitial(session.options.initialWindow);
    const stream = new TunnelStream(session.host, info, open.peerWindow, window);
    session.started(stream);
    if (log.enabled) log('%s -> open-ok %d', session.id, open.streamId);
    session.sendFrame({ kind: 'open-ok', streamId: open.streamId, window });
    return stream;
  }

  rejectOpen(open: IncomingOpen, code: ErrorCodeName, message: string): void {
    const session = this.session;
    this.incoming.delete(open.streamId);
    session.tracker.closed(open.streamId, true);
    if (session.closedWith()) return;
    log('%s -> open-error %d %s', session.id, open.streamId, code);
    session.sendFrame({ kind: 'open-error', streamId: open.streamId, code, message });
    session.ended();
  }

  /** The session died: every open in either direction fails with `error`. */
  destroy(error: TunnelError): void {
    this.deadlines.clear();
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const open of this.incoming.values()) open.cancel(error);
    this.incoming.clear();
  }
}

// Session: many TunnelStreams multiplexed over one Transport. It parses frames, enforces stream
// states (a peer that breaks the protocol gets this session closed with a protocol error; the
// process and other sessions live on), batches outgoing frames (frame-writer.ts), holds writers
// while the transport is over its high-water mark, keeps the peer alive with pings (RTT in
// stats()), drains on go-away, and carries the control channel. Either side may open streams; how
// opens are sent, answered, limited and timed out is left to stream-opener.ts. Used by the daemon,
// the manager and the agent alike. It never emits 'error': its end is the 'close' event. Logs
// under `tp:tunnel`: `->` sent, `<-` received, `!!` failed, then the session id and stream id.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { logger } from '../log/logger.js';
import { ControlChannel, type ControlEvent, type RpcHandler } from './control-channel.js';
import { TunnelError } from './errors.js';
import { encodeFrame, encodeHeader } from './frame-encoder.js';
import { FrameDecoder } from './frame-decoder.js';
import type { Frame } from './frame.js';
import { FrameWriter } from './frame-writer.js';
import type { IncomingOpen, OpenRequest } from './incoming-open.js';
import { Keepalive } from './keepalive.js';
import { Defaults, FRAME_HEADER_BYTES, FrameType, PING_PAYLOAD_BYTES, PROTOCOL_VERSION, type ErrorCodeName, type Role } from './protocol.js';

export type { SessionOptions, SessionStats } from './session-options.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions, type SessionStats } from './session-options.js';
import { StreamOpener } from './stream-opener.js';
import { StreamTracker } from './stream-tracker.js';
import { TunnelStream, type StreamHost } from './stream.js';
import { Interactive, TrafficMeter } from './traffic-meter.js';
import type { Transport } from './transport.js';
import { WindowBudget } from './window-budget.js';

const log = logger('tp:tunnel');

export interface SessionEvents {
  /** The peer wants a stream: call accept() or reject(code, message) on it. */
  stream: [open: IncomingOpen];
  /** A one-way control message from the peer (notify()). */
  control: [event: ControlEvent];
  /** The peer is draining: open() now fails with TP_ERR_TUNNEL_GOING_AWAY. */
  goaway: [frame: { code: ErrorCodeName; reason: string }];
  /** A pong arrived; the argument is the round trip in ms. */
  pong: [rttMs: number];
  /** A stream or open ended (used by close() to know when it has drained). */
  'stream-closed': [stream?: TunnelStream];
  /** The session ended; `error` is set unless it was an orderly close(). */
  close: [error?: TunnelError];
}

export class Session extends EventEmitter<SessionEvents> implements StreamHost {
  readonly id: string;
  readonly role: Role;
  readonly label: string;
  readonly maxDataFrame: number;
  readonly maxWindow: number;
  /** Concurrent streams (both directions, pending opens included) this side allows. */
  readonly maxStreams: number;
  /** Opens of ours awaiting an answer that this side allows. */
  readonly maxPendingOpens: number;
  private readonly options: ResolvedSessionOptions;
  private readonly transport: Transport;
  private readonly decoder: FrameDecoder;
  private readonly tracker: StreamTracker;
  private readonly control: ControlChannel;
  private readonly streams = new Map<number, TunnelStream>();
  private readonly opens: StreamOpener;
  private readonly writer: FrameWriter;
  private readonly keepalive: Keepalive;
  private readonly budget: WindowBudget;
  private helloReceived = false;
  private draining = false;
  private peerDraining = false;
  private destroyedWith: TunnelError | null = null;
  private closePromise: Promise<void> | null = null;
  private bytesIn = 0;
  /** DATA bytes moved either way, recent ones weighing most. */
  private readonly traffic = new TrafficMeter();
  /** Which streams moved interactive traffic lately, here (or on any session of the pool: shareInteractive). */
  private interactive = new Interactive();

  constructor(transport: Transport, options: SessionOptions) {
    super();
    this.options = resolveSessionOptions(options);
    if (this.options.maxDataFrame > this.options.maxFramePayload) {
      throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', 'maxDataFrame must not exceed maxFramePayload');
    }
    this.id = options.id ?? randomBytes(4).toString('hex');
    this.role = options.role;
    this.label = this.id;
    this.maxDataFrame = this.options.maxDataFrame;
    this.maxWindow = this.options.maxWindow;
    this.maxStreams = this.options.maxStreams;
    this.maxPendingOpens = this.options.maxPendingOpens;
    this.budget = new WindowBudget(this.options.maxSessionBuffer);
    this.transport = transport;
    this.writer = new FrameWriter(transport, this.options.maxMessageBytes, this.options.transportHighWater);
    this.decoder = new FrameDecoder({ maxFramePayload: this.options.maxFramePayload });
    this.tracker = new StreamTracker(this.role);
    this.opens = new StreamOpener({
      id: this.id,
      options: this.options,
      host: this,
      tracker: this.tracker,
      budget: this.budget,
      closedWith: () => this.destroyedWith,
      draining: () => this.draining,
      peerDraining: () => this.peerDraining,
      streamCount: () => this.streams.size,
      sendFrame: (frame) => this.sendFrame(frame),
      enqueue: (bytes) => this.writer.enqueue(bytes),
      started: (stream) => this.streams.set(stream.id, stream),
      ended: () => this.emit('stream-closed'),
      accepting: () => this.listenerCount('stream') > 0,
      offer: (open) => this.emit('stream', open),
    });
    this.control = new ControlChannel(
      (message) => this.sendControl(message),
      (event: ControlEvent) => this.emit('control', event),
    );
    log.info('%s .. session on %s as %s', this.id, transport.label, this.role);
    // Before attach: the transport may hand over early messages synchronously.
    this.keepalive = new Keepalive({
      pingIntervalMs: this.options.pingIntervalMs,
      deadPeerTimeoutMs: this.options.deadPeerTimeoutMs,
      sendPing: () => this.sendFrame({ kind: 'ping', streamId: 0, payload: Buffer.alloc(PING_PAYLOAD_BYTES) }),
      onDead: (silentForMs) => this.destroy(new TunnelError('TP_ERR_TUNNEL_PEER_TIMEOUT', `nothing heard from the peer for ${silentForMs} ms`)),
    });
    this.sendFrame({ kind: 'hello', streamId: 0, version: PROTOCOL_VERSION });
    transport.attach({
      message: (data) => this.onMessage(data),
      drain: () => this.writer.wake(),
      close: (error) => this.destroy(new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', 'the tunnel transport closed', { cause: error })),
    });
  }

  get closed(): boolean {
    return this.destroyedWith !== null;
  }

  /** True while the session takes new streams in both directions. */
  get live(): boolean {
    return !this.closed && !this.draining && !this.peerDraining;
  }

  get openStreamCount(): number {
    return this.streams.size + this.opens.pendingCount;
  }

  /** Shares one record of interactive traffic with other sessions (a pool's): bulk streams here make way for requests there. */
  shareInteractive(interactive: Interactive): void {
    this.interactive = interactive;
  }

  /** True while `stream` is one of this session's open streams. */
  hasStream(stream: TunnelStream): boolean {
    return this.streams.get(stream.id) === stream;
  }

  /** Our opens awaiting the peer's answer. */
  get pendingOpenCount(): number {
    return this.opens.pendingCount;
  }

  /** DATA bytes moved either way lately (traffic-meter.ts): megabytes while a bulk transfer runs. */
  get recentTraffic(): number {
    return this.traffic.value;
  }

  stats(): SessionStats {
    let unread = 0;
    for (const stream of this.streams.values()) unread += stream.bufferedIn;
    return {
      id: this.id,
      openStreams: this.streams.size,
      pendingOpens: this.opens.pendingCount + this.opens.incomingCount,
      bytesIn: this.bytesIn,
      bytesOut: this.writer.bytesSent,
      rttMs: this.keepalive.rttMs,
      bufferedBytes: this.writer.bufferedBytes + unread + this.decoder.bufferedBytes,
      draining: this.draining,
      peerDraining: this.peerDraining,
    };
  }

  /** Opens a stream to host:port on the peer's side; rejects with OpenError (reason refused, dns…). */
  open(request: OpenRequest, options: { timeoutMs?: number } = {}): Promise<TunnelStream> {
    return this.opens.open(request, options.timeoutMs);
  }

  /** Sends a one-way control message; the peer gets a 'control' event { type, body }. */
  notify(type: string, body: unknown): void {
    this.control.notify(type, body);
  }

  request(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    return this.control.request(method, params, options.timeoutMs ?? Defaults.RPC_TIMEOUT_MS);
  }

  handle(method: string, handler: RpcHandler): void {
    this.control.handle(method, handler);
  }

  /** Tells the peer to open no new streams; streams already open may finish. Idempotent. */
  goAway(reason = 'going away', code: ErrorCodeName = 'normal'): void {
    if (this.draining || this.destroyedWith) return;
    this.draining = true;
    log.info('%s -> go-away %s', this.id, reason);
    this.sendFrame({ kind: 'go-away', streamId: 0, code, reason });
  }

  /** Go-away, wait for open streams to finish (at most closeTimeoutMs), then close. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closePromise = new Promise<void>((resolve) => {
      if (this.destroyedWith) return resolve();
      this.goAway('closing');
      const timer = setTimeout(() => this.destroy(new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', 'close timed out with streams still open')), this.options.closeTimeoutMs);
      timer.unref();
      const check = (): void => {
        if (this.destroyedWith || this.openStreamCount + this.opens.incomingCount === 0) {
          clearTimeout(timer);
          this.off('stream-closed', check);
          this.destroy();
        }
      };
      this.on('stream-closed', check);
      this.once('close', () => resolve());
      check();
    });
    return this.closePromise;
  }

  /** Ends the session now: every stream and request fails with `error` (or SESSION_CLOSED). Idempotent. */
  destroy(error?: Error): void {
    if (this.destroyedWith) return;
    const reason =
      error instanceof TunnelError ? error : new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', `tunnel session ${this.id} closed`, { cause: error });
    this.destroyedWith = reason;
    this.keepalive.stop();
    log.info('%s %s session closed: %s', this.id, error ? '!!' : '..', reason.message);
    this.writer.stop();
    const streamError = reason.code === 'TP_ERR_TUNNEL_PROTOCOL' || reason.code === 'TP_ERR_TUNNEL_PEER_TIMEOUT' ? reason : new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', reason.message, { cause: reason });
    for (const stream of [...this.streams.values()]) stream.abort(streamError, false);
    this.opens.destroy(streamError);
    this.control.close(streamError);
    this.transport.close(error);
    this.emit('close', error ? reason : undefined);
  }

  // ---- StreamHost ----

  sendData(streamId: number, data: Buffer): void {
    this.traffic.add(data.length);
    this.writer.enqueue(encodeHeader(FrameType.DATA, streamId, data.length), data);
  }

  sendWindowUpdate(streamId: number, increment: number): void {
    this.sendFrame({ kind: 'window', streamId, increment });
  }

  sendFin(streamId: number): void {
    if (log.enabled) log('%s -> fin %d', this.id, streamId);
    if (!this.destroyedWith) this.writer.enqueue(encodeHeader(FrameType.FIN, streamId, 0));
  }

  sendReset(streamId: number, code: ErrorCodeName, message: string): void {
    log('%s -> reset %d %s', this.id, streamId, code);
    this.sendFrame({ kind: 'reset', streamId, code, message });
  }

  writable(stream: TunnelStream): boolean {
    return this.writer.writable(stream);
  }

  reserveWindow(bytes: number): number {
    return this.budget.reserveGrowth(bytes);
  }

  releaseWindow(bytes: number): void {
    this.budget.release(bytes);
  }

  pathRttMs(shared: boolean): number {
    return this.keepalive.pathRttMs(shared);
  }

  interactiveMoved(stream: TunnelStream): void {
    this.interactive.note(stream);
  }

  interactiveNearby(stream: TunnelStream): boolean {
    return this.interactive.nearby(stream);
  }

  streamClosed(stream: TunnelStream, peerEnded: boolean): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.writer.forget(stream);
    this.interactive.forget(stream);
    this.tracker.closed(stream.id, peerEnded);
    this.emit('stream-closed', stream);
  }

  // ---- sending ----

  /** Control messages over maxFramePayload would make the peer close the session; refuse them here. */
  private sendControl(message: unknown): void {
    const bytes = encodeFrame({ kind: 'control', streamId: 0, message });
    if (bytes.length - FRAME_HEADER_BYTES > this.options.maxFramePayload) {
      throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', `control message of ${bytes.length} bytes is over maxFramePayload (${this.options.maxFramePayload})`);
    }
    if (!this.destroyedWith) this.writer.enqueue(bytes);
  }

  private sendFrame(frame: Frame): void {
    if (this.destroyedWith) return;
    this.writer.enqueue(encodeFrame(frame));
  }

  // ---- receiving ----

  private onMessage(data: Buffer): void {
    if (this.destroyedWith) return;
    this.bytesIn += data.length;
    this.keepalive.heard();
    try {
      for (const frame of this.decoder.push(data)) {
        this.dispatch(frame);
        if (this.destroyedWith) return;
      }
    } catch (error) {
      // Anything but a TunnelError is a bug on this side (e.g. a throwing 'stream' listener), not the peer's fault.
      const tunnelError = error instanceof TunnelError ? error : new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', `handling a frame failed on this side: ${(error as Error).message}`, { cause: error, reason: 'internal' });
      log.warn('%s !! %s', this.id, tunnelError.message);
      this.sendFrame({ kind: 'go-away', streamId: 0, code: tunnelError.reason ?? 'protocol', reason: tunnelError.message });
      this.destroy(tunnelError);
    }
  }

  private dispatch(frame: Frame): void {
    if (!this.helloReceived) {
      if (frame.kind !== 'hello') throw new TunnelError('TP_ERR_TUNNEL_PROTOCOL', `expected HELLO first, got ${frame.kind}`, { reason: 'protocol' });
      if (frame.version !== PROTOCOL_VERSION) {
        throw new TunnelError('TP_ERR_TUNNEL_VERSION', `peer speaks tunnel protocol ${frame.version}, this side ${PROTOCOL_VERSION}`, { reason: 'protocol' });
      }
      this.helloReceived = true;
      return;
    }
    switch (frame.kind) {
      case 'hello':
        throw new TunnelError('TP_ERR_TUNNEL_PROTOCOL', 'second HELLO', { reason: 'protocol' });
      case 'ping':
        this.sendFrame({ kind: 'pong', streamId: 0, payload: frame.payload });
        return;
      case 'pong':
        {
          const rtt = this.keepalive.pong();
          if (rtt !== undefined) this.emit('pong', rtt);
        }
        return;
      case 'go-away':
        log.info('%s <- go-away %s %s', this.id, frame.code, frame.reason);
        this.peerDraining = true;
        this.emit('goaway', frame);
        if (frame.code === 'protocol') this.destroy(new TunnelError('TP_ERR_TUNNEL_PROTOCOL', `peer reported a protocol error: ${frame.reason}`, { reason: 'protocol' }));
        return;
      case 'control':
        this.control.receive(frame.message);
        return;
      case 'open':
        this.opens.onOpen(frame);
        return;
      case 'open-ok':
      case 'open-error':
        this.opens.onOpenAnswer(frame);
        return;
      default:
        this.onStreamFrame(frame);
    }
  }

  private onStreamFrame(frame: Extract<Frame, { kind: 'data' | 'window' | 'fin' | 'reset' }>): void {
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (frame.kind === 'reset' && this.opens.onCancel(frame)) return;
      this.tracker.checkLateFrame(frame.streamId, frame.kind, this.opens.awaiting(frame.streamId));
      return;
    }
    switch (frame.kind) {
      case 'data':
        this.traffic.add(frame.data.length);
        stream.handleData(frame.data);
        return;
      case 'window':
        stream.handleWindow(frame.increment);
        return;
      case 'fin':
        if (log.enabled) log('%s <- fin %d', this.id, frame.streamId);
        stream.handleFin();
        return;
      case 'reset':
        log('%s <- reset %d %s', this.id, frame.streamId, frame.code);
        stream.abort(new TunnelError('TP_ERR_TUNNEL_STREAM_RESET', `peer reset stream ${frame.streamId} (${frame.code}): ${frame.message}`, { reason: frame.code }), true);
        return;
    }
  }

  /** Sends a ping now; resolves with the measured RTT in ms when the pong arrives. */
  ping(): Promise<number> {
    if (this.destroyedWith) return Promise.reject(this.destroyedWith);
    this.keepalive.ping();
    return new Promise((resolve, reject) => {
      const onPong = (rtt: number): void => {
        this.off('close', onClose);
        resolve(rtt);
      };
      const onClose = (): void => {
        this.off('pong', onPong);
        reject(this.destroyedWith);
      };
      this.once('pong', onPong);
      this.once('close', onClose);
    });
  }
}

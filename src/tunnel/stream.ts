// TunnelStream: one multiplexed TCP-like stream, a Node Duplex that pipes straight into sockets.
// It owns the stream's flow control: a send window (credit granted by the peer) and a receive
// window (credit we granted), sized by its rate and the path's round trip within the session's
// budget (grantCredit: grown for bulk streams, shrunk again while they share with requests).
// The budget it holds covers both the window and any larger credit the peer still has from
// before a shrink, so a session never promises more than its budget.
// The session (session.ts) parses frames and calls in; the stream calls back through StreamHost.
//
// How a stream ends:
// - end() sends FIN (half-close); the peer sees 'end' and may keep writing. When both sides have
//   sent FIN the stream is done and finishes normally.
// - destroy() / destroy(err) sends RESET (reason 'cancel', or the error's `reason`, or
//   'internal'); the peer's stream errors with TP_ERR_TUNNEL_STREAM_RESET and that reason.
// - A RESET from the peer errors this stream with TP_ERR_TUNNEL_STREAM_RESET.
// - When the session dies every open stream errors with TP_ERR_TUNNEL_SESSION_CLOSED (or
//   TP_ERR_TUNNEL_PEER_TIMEOUT / TP_ERR_TUNNEL_PROTOCOL when that is why it died).
import { Duplex } from 'node:stream';
import { protocolError, TunnelError } from './errors.js';
import type { OpenMetadata } from './frame.js';
import { Limits, type ErrorCodeName } from './protocol.js';
import { QUIET_TRAFFIC_BYTES, TRANSFER_TRAFFIC_BYTES, TrafficMeter } from './traffic-meter.js';

/** What a stream needs from its session. */
export interface StreamHost {
  readonly label: string;
  readonly maxDataFrame: number;
  readonly maxWindow: number;
  sendData(streamId: number, data: Buffer): void;
  sendWindowUpdate(streamId: number, increment: number): void;
  sendFin(streamId: number): void;
  sendReset(streamId: number, code: ErrorCodeName, message: string): void;
  /** True when the transport can take more; otherwise the stream is woken by resume(). */
  writable(stream: TunnelStream): boolean;
  /** Reserves up to `bytes` more receive window from the session budget; returns what it got. */
  reserveWindow(bytes: number): number;
  releaseWindow(bytes: number): void;
  /** The path's round trip (ms) a window must cover: its smallest measured, with a floor (a lower one when `shared`). */
  pathRttMs(shared: boolean): number;
  /** DATA of `stream`, which moves little (requests, replies), went by now. */
  interactiveMoved(stream: TunnelStream): void;
  /** True while another stream's interactive traffic moved lately, on this session or its pool's others. */
  interactiveNearby(stream: TunnelStream): boolean;
  streamClosed(stream: TunnelStream, peerEnded: boolean): void;
}

export interface StreamInfo {
  id: number;
  host: string;
  port: number;
  metadata: OpenMetadata;
  /** Who opened it: 'outgoing' (this side, via open()) or 'incoming' (the peer). */
  direction: 'outgoing' | 'incoming';
}

const READ_HIGH_WATER = 64 * 1024;
/** One options object for every stream's Duplex (made per open otherwise). */
const DUPLEX_OPTIONS = { allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: READ_HIGH_WATER } as const;
/** A window shrinks no lower than this while making way for interactive traffic. */
export const SHARED_MIN_WINDOW = 256 * 1024;
/** The rate a window is sized by is measured over at least this long, so bursts even out. */
const RATE_INTERVAL_MS = 8;
/** Startup ends once this many rate measurements in a row were not STARTUP_GROWTH times the best before. */
const STARTUP_FLAT_ROUNDS = 2;
const STARTUP_GROWTH = 1.25;

export class TunnelStream extends Duplex {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly metadata: OpenMetadata;
  readonly direction: 'outgoing' | 'incoming';
  private readonly session: StreamHost;
  private sendWindow: number;
  /** Receive window we aim to keep open, grows for bulk streams. */
  private windowSize: number;
  /** Budget held for this stream: the window, or the credit the peer still has if a shrink left more out. */
  private reserved: number;
  /** Total bytes the peer may have sent so far (initial window plus every increment). */
  private creditLimit: number;
  private received = 0;
  /** Start of the current rate measurement: when, and how many bytes had been consumed then. */
  private rateSince = performance.now();
  private consumedAtRateSince = 0;
  /** Startup: the window grows with consumption until the rate stops growing (grantCredit). */
  private startup = true;
  /** The highest rate measured (bytes per ms) and how many measurements since have not beaten it by STARTUP_GROWTH. */
  private bestRate = 0;
  private flatRounds = 0;
  /** DATA moved either way lately: under QUIET_TRAFFIC_BYTES this stream is interactive. */
  private readonly traffic = new TrafficMeter();
  private pending: { chunk: Buffer; offset: number; callback: (error?: Error | null) => void } | null = null;
  private finSent = false;
  private finReceived = false;
  private closedInSession = false;
  private peerEnded = false;

  constructor(session: StreamHost, info: StreamInfo, sendWindow: number, receiveWindow: number) {
    super(DUPLEX_OPTIONS);
    this.session = session;
    this.id = info.id;
    this.host = info.host;
    this.port = info.port;
    this.metadata = info.metadata;
    this.direction = info.direction;
    this.sendWindow = sendWindow;
    this.windowSize = receiveWindow;
    this.reserved = receiveWindow;
    this.creditLimit = receiveWindow;
  }

  /** Bytes received and not yet read by the consumer. */
  get bufferedIn(): number {
    return this.readableLength;
  }

  /** True while this stream's recent DATA (either way) is past TRANSFER_TRAFFIC_BYTES: a transfer, not requests and replies. */
  get transferring(): boolean {
    return this.traffic.value >= TRANSFER_TRAFFIC_BYTES;
  }

  /** Receive window currently granted to the peer's side of this stream. */
  get receiveWindow(): number {
    return this.windowSize;
  }

  // ---- called by the session ----

  /** @internal DATA from the peer. */
  handleData(data: Buffer): void {
    if (this.finReceived) throw protocolError(`DATA after FIN on stream ${this.id}`);
    if (this.received + data.length > this.creditLimit) {
      throw protocolError(`stream ${this.id} received ${data.length} bytes beyond its window`);
    }
    this.received += data.length;
    this.countTraffic(data.length);
    if (this.destroyed) return;
    this.push(data);
    this.grantCredit();
  }

  /** @internal WINDOW from the peer. */
  handleWindow(increment: number): void {
    if (this.sendWindow + increment > Limits.MAX_WINDOW) throw protocolError(`window overflow on stream ${this.id}`);
    this.sendWindow += increment;
    this.continueWriting();
  }

  /** @internal FIN from the peer. */
  handleFin(): void {
    if (this.finReceived) throw protocolError(`second FIN on stream ${this.id}`);
    this.finReceived = true;
    this.push(null);
    this.maybeDone();
  }

  /** @internal RESET from the peer, or the session died (`peerEnded` false). */
  abort(error: TunnelError, peerEnded: boolean): void {
    this.peerEnded = peerEnded;
    this.closeInSession();
    this.destroy(error);
  }

  /** @internal The transport can take more, or the window opened: continue a waiting write. */
  continueWriting(): void {
    const pending = this.pending;
    if (!pending) return;
    while (pending.offset < pending.chunk.length) {
      if (this.sendWindow <= 0 || this.closedInSession) return;
      if (!this.session.writable(this)) return;
      const n = Math.min(pending.chunk.length - pending.offset, this.sendWindow, this.session.maxDataFrame);
      this.session.sendData(this.id, pending.chunk.subarray(pending.offset, pending.offset + n));
      this.countTraffic(n);
      pending.offset += n;
      this.sendWindow -= n;
    }
    this.pending = null;
    pending.callback();
  }

  // ---- Duplex implementation ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.closedInSession) {
      callback(new TunnelError('TP_ERR_TUNNEL_SESSION_CLOSED', `stream ${this.session.label}/${this.id} is closed`));
      return;
    }
    this.pending = { chunk, offset: 0, callback };
    this.continueWriting();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.closedInSession) {
      this.finSent = true;
      this.session.sendFin(this.id);
      this.maybeDone();
    }
    callback();
  }

  override _read(): void {
    // Credit is granted in read() below, once the consumed bytes have left the buffer.
  }

  // Every way of consuming (pipe, 'data', async iteration, read()) goes through read(), except a
  // chunk emitted straight from push() in flowing mode, which handleData covers.
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.grantCredit();
    return chunk;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.pending = null;
    if (!this.closedInSession) {
      const code: ErrorCodeName = error === null ? 'cancel' : error instanceof TunnelError && error.reason ? error.reason : 'internal';
      this.session.sendReset(this.id, code, error ? error.message : 'stream destroyed');
      this.closeInSession();
    }
    callback(error);
  }

  private maybeDone(): void {
    if (this.finSent && this.finReceived) {
      this.peerEnded = true;
      this.closeInSession();
    }
  }

  private closeInSession(): void {
    if (this.closedInSession) return;
    this.closedInSession = true;
    this.session.releaseWindow(this.reserved);
    this.reserved = 0;
    this.session.streamClosed(this, this.peerEnded || this.finReceived);
  }

  /** Tells the session when this stream's traffic is interactive (bulk streams make way for it). */
  private countTraffic(bytes: number): void {
    if (this.traffic.add(bytes) < QUIET_TRAFFIC_BYTES) this.session.interactiveMoved(this);
  }

  /**
   * Keeps the peer's credit at (bytes consumed + windowSize), in steps of at least half a
   * window (a quarter in startup and while shared, so less credit waits between steps). The
   * window follows the stream's rate, measured over RATE_INTERVAL_MS or more, times the path's
   * round trip (StreamHost.pathRttMs), growing only while the reader keeps up, up to maxWindow and
   * the session budget:
   * - at first (startup) it grows by what each step consumed, so while the window limits the
   *   stream it nearly doubles every round trip, as TCP's slow start does. (Doubling only after
   *   a measurement takes two round trips per step, one for the new credit to arrive and one to
   *   measure it, and held transfers of a few megabytes at a fraction of a long path.) Startup
   *   ends for good once the measured rate has not grown by STARTUP_GROWTH for
   *   STARTUP_FLAT_ROUNDS measurements in a row: the path, not the window, limits the stream
   *   (BBR's startup judges so too), and the window then drains to 2 × the best rate × RTT if it
   *   overshot by more than a third. It pauses while another stream's interactive traffic moves.
   * - after that it grows toward the wanted window, 2 × rate × RTT (at most doubling per step,
   *   never past it), while the window, not the path, limits the stream. About twice the
   *   bandwidth-delay product keeps a long path full; what a window holds beyond the path's own
   *   bandwidth × delay waits in the path's queues (a Wi-Fi card's, a VPN's), where another
   *   stream's replies wait behind it. Alone, a stream keeps the window it has: headroom speeds
   *   it up on a short path, and a rate measured across an idle gap says nothing of its need.
   * - while another stream's interactive traffic moves nearby the RTT floor is lower and the
   *   window follows the wanted window down to SHARED_MIN_WINDOW as soon as it is under three
   *   quarters of the window: a bulk stream keeps about what its path needs in flight, not the
   *   headroom that speeds it up alone on a short path, so a request's reply waits behind less of
   *   it, in the link's queue and in the processes, CPUs and sockets both cross.
   * Shrinking takes back no credit: the peer's limit stays until consumption passes it, and the
   * budget for it stays held until then (settleBudget).
   */
  private grantCredit(): void {
    if (this.closedInSession || this.finReceived) return;
    const unread = this.readableLength;
    const consumed = this.received - unread;
    if (this.reserved > this.windowSize) this.settleBudget(consumed);
    let increment = consumed + this.windowSize - this.creditLimit;
    if (increment < this.windowSize / 4) return;
    const shared = this.session.interactiveNearby(this);
    if (increment < this.windowSize / (this.startup || shared ? 4 : 2)) return;
    const rtt = this.session.pathRttMs(shared);
    const rate = this.measureRate(consumed, rtt);
    // Startup's end drains its overshoot: sized by the best rate it saw, so an idle gap at the end does not count as need.
    const ended = rate !== undefined && this.startup && !shared && this.judgeStartup(rate);
    const wanted = rate === undefined ? this.windowSize : 2 * (ended ? Math.max(this.bestRate, rate) : rate) * rtt;
    const growth = this.startup && !shared ? increment : Math.min(this.windowSize, Math.ceil(wanted) - this.windowSize);
    if (growth > 0 && this.windowSize < this.session.maxWindow && unread < this.windowSize / 4) {
      const extra = this.session.reserveWindow(Math.min(growth, this.session.maxWindow - this.windowSize));
      this.windowSize += extra;
      this.reserved += extra;
      increment += extra;
    } else if ((shared || ended) && wanted < this.windowSize * 0.75 && this.windowSize > SHARED_MIN_WINDOW) {
      const less = this.windowSize - Math.max(SHARED_MIN_WINDOW, Math.ceil(wanted));
      this.windowSize -= less;
      increment -= less;
      this.settleBudget(consumed);
      if (increment < this.windowSize / (shared ? 4 : 2)) return;
    }
    this.creditLimit += increment;
    this.session.sendWindowUpdate(this.id, increment);
  }

  /** Gives back budget held beyond the window once the peer's credit from before a shrink is used up (consumption passed it). */
  private settleBudget(consumed: number): void {
    const held = Math.max(this.windowSize, this.creditLimit - consumed);
    if (held >= this.reserved) return;
    this.session.releaseWindow(this.reserved - held);
    this.reserved = held;
  }

  /** The consumption rate (bytes per ms) since the last measurement, once that is at least the round trip and RATE_INTERVAL_MS ago; undefined before. */
  private measureRate(consumed: number, rtt: number): number | undefined {
    const now = performance.now();
    const elapsed = now - this.rateSince;
    if (elapsed < Math.max(rtt, RATE_INTERVAL_MS)) return undefined;
    const rate = (consumed - this.consumedAtRateSince) / elapsed;
    this.rateSince = now;
    this.consumedAtRateSince = consumed;
    return rate;
  }

  /** Ends startup once STARTUP_FLAT_ROUNDS measurements in a row have not beaten the best rate by STARTUP_GROWTH; true when it ends now. */
  private judgeStartup(rate: number): boolean {
    if (rate >= STARTUP_GROWTH * this.bestRate) {
      this.bestRate = rate;
      this.flatRounds = 0;
    } else if (++this.flatRounds >= STARTUP_FLAT_ROUNDS) {
      this.startup = false;
      return true;
    }
    return false;
  }
}

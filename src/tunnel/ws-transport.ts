// The WebSocket adapter of the Transport interface (the `ws` package): binary messages only, no
// compression. bufferedAmount counts bytes handed to ws whose write has not completed, and drain
// fires as writes complete, so the session stops writing while the socket is backed up. A text
// message from the peer ends the transport (the tunnel never sends one). Client and server sides
// both wrap an open ws WebSocket; connecting is in ws-client.ts, accepting in ws-server.ts.
import type { Writable } from 'node:stream';
import type WebSocket from 'ws';
import type { Transport, TransportHandler } from './transport.js';

/** WebSocket close codes (RFC 6455 section 7.4.1). */
export const CloseCode = {
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INTERNAL_ERROR: 1011,
} as const;

/** ws copies its options per send; one object serves every message. */
const SEND_OPTIONS = { binary: true, compress: false } as const;

/** How long a graceful close may wait for the peer's close frame before the socket is dropped. */
const CLOSE_GRACE_MS = 2000;

export class WebSocketTransport implements Transport {
  readonly label: string;
  private queued = 0;
  private handler: TransportHandler | null = null;
  private early: Buffer[] = [];
  private ended = false;
  private closeError: Error | undefined;
  private corked = false;

  constructor(
    private readonly ws: WebSocket,
    label: string,
  ) {
    this.label = label;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.close(new Error('text message on a tunnel WebSocket'), CloseCode.UNSUPPORTED_DATA);
        return;
      }
      if (this.handler) this.handler.message(data);
      else this.early.push(data);
    });
    ws.on('error', (error) => {
      this.closeError ??= error;
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.ended = true;
      const error = code === CloseCode.NORMAL ? this.closeError : (this.closeError ?? new Error(`WebSocket closed with code ${code} ${reason.toString()}`.trim()));
      this.handler?.close(error);
    });
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  send(data: Buffer): void {
    if (this.ended || this.ws.readyState !== this.ws.OPEN) return;
    this.queued += data.length;
    this.corkForThisTick();
    this.ws.send(data, SEND_OPTIONS, () => {
      this.queued -= data.length;
      this.handler?.drain();
    });
  }

  /**
   * Holds the socket's writes until the current task ends, so the messages sent in one go (a
   * DATA frame's header and its payload, which travel as two messages) leave in one writev
   * instead of one each. ws corks around a message's own header and payload the same way.
   */
  private corkForThisTick(): void {
    if (this.corked) return;
    // ws keeps its socket (a net.Socket, or the Duplex a caller's createConnection gave it) here.
    const socket = (this.ws as unknown as { _socket?: Writable })._socket;
    if (typeof socket?.cork !== 'function') return;
    socket.cork();
    this.corked = true;
    process.nextTick(uncork, this, socket);
  }

  /** @internal */
  uncorked(): void {
    this.corked = false;
  }

  attach(handler: TransportHandler): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const data of early) handler.message(data);
  }

  close(error?: Error, code?: number): void {
    if (this.ended) return;
    this.ended = true;
    this.closeError ??= error;
    if (this.ws.readyState === this.ws.CLOSED) return;
    if (error && code === undefined) {
      const protocol = (error as { code?: string }).code === 'TP_ERR_TUNNEL_PROTOCOL';
      code = protocol ? CloseCode.PROTOCOL_ERROR : CloseCode.INTERNAL_ERROR;
    }
    if (this.ws.readyState === this.ws.CONNECTING) {
      this.ws.terminate();
      return;
    }
    this.ws.close(code ?? CloseCode.NORMAL);
    const timer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    timer.unref();
    this.ws.once('close', () => clearTimeout(timer));
  }
}

/** The end of a corkForThisTick: a function of its own, so scheduling it allocates no closure. */
function uncork(transport: WebSocketTransport, socket: Writable): void {
  transport.uncorked();
  socket.uncork();
}

/** Fills the client's masking key with zeros, which ws takes as "skip the XOR" on both ends.
 *  Masking protects browser-shared proxies from cache poisoning (RFC 6455 section 10.3); the
 *  tunnel client is not a browser and its bytes are its own. */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

// HTTP/1.1 bodies for the HTTP proxy's spliced path (http-forward.ts): where a body ends (RFC
// 9112 §6: none, a Content-Length, chunked, or the connection's close). Bodies are never copied or
// re-encoded: BodyCounter only says how many of the bytes in hand belong to the message, and every
// length read from the wire is checked before anything is kept for it. Heads are http-head.ts's.
// Also the proxy's own short answers on a raw socket (endRaw: errors, refusals).
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.js';

/** A chunk-size line (with extensions) longer than this is refused. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Trailer section of a chunked body, at most. */
const MAX_TRAILER_BYTES = 16 * 1024;

export class FramingError extends Error {
  readonly code: ErrorCode = 'TP_ERR_HTTP_FRAMING';
}

/** How a message's body is delimited. */
export type BodyFraming = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer';

/**
 * Counts a body's bytes as they pass: take(chunk) says how many of `chunk` belong to the body
 * (the rest is the next message), and `done` when it is complete. A close-delimited body is
 * never done by its bytes; the connection's end completes it.
 */
export class BodyCounter {
  done: boolean;
  private remaining: number;
  private state: ChunkState = 'size';
  private line = '';
  private trailerBytes = 0;

  /** True for a body the connection's close ends. */
  get untilClose(): boolean {
    return this.framing.kind === 'close';
  }

  constructor(private readonly framing: BodyFraming) {
    this.remaining = framing.kind === 'length' ? framing.length : 0;
    this.done = framing.kind === 'length' && framing.length === 0;
  }

  /** How many of chunk's bytes from `start` on are this body's. */
  take(chunk: Buffer, start = 0): number {
    if (this.done) return 0;
    if (this.framing.kind === 'close') return chunk.length - start;
    if (this.framing.kind === 'length') {
      const n = Math.min(this.remaining, chunk.length - start);
      this.remaining -= n;
      this.done = this.remaining === 0;
      return n;
    }
    let at = start;
    while (at < chunk.length && !this.done) {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, chunk.length - at);
        this.remaining -= n;
        at += n;
        if (this.remaining === 0) this.state = 'data-crlf';
        continue;
      }
      const byte = chunk[at++];
      if (this.state === 'trailer' && ++this.trailerBytes > MAX_TRAILER_BYTES) throw new FramingError('chunked trailers are too long');
      if (byte !== 0x0a) {
        if (this.line.length >= MAX_CHUNK_LINE_BYTES) throw new FramingError('a chunk-size line is too long');
        this.line += String.fromCharCode(byte);
        continue;
      }
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      this.endLine(line);
    }
    return at - start;
  }

  private endLine(line: string): void {
    if (this.state === 'data-crlf') {
      if (line !== '') throw new FramingError('a chunk is longer than its size');
      this.state = 'size';
    } else if (this.state === 'size') {
      const match = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
      if (!match) throw new FramingError('a chunk-size line is malformed');
      this.remaining = parseInt(match[1], 16);
      this.state = this.remaining === 0 ? 'trailer' : 'data';
    } else if (line === '') {
      this.done = true;
    }
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Writes a complete HTTP/1.1 response on a raw socket and closes it. */
export function endRaw(socket: Duplex, status: number, body: string, extraHeaders = ''): void {
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${extraHeaders}content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

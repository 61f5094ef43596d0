// HTTP/1.1 message framing for the HTTP proxy's spliced path (http-forward.ts): where a request
// or response head ends, what it says (method, target, status, headers), the head rewritten for
// the next hop (hop-by-hop and Proxy-* headers dropped, RFC 9110 §7.6.1), and where a body ends
// (RFC 9112 §6: none, a Content-Length, chunked, or the connection's close). Bodies are never
// copied or re-encoded: BodyCounter only says how many of the bytes in hand belong to the
// message. Every length read from the wire is checked before anything is kept for it. Heads this
// file does not take (obs-fold, a bad Content-Length, a Transfer-Encoding on a request) parse as
// undefined, and the caller hands the connection to Node's HTTP server, which answers them.
// Also the proxy's own short answers on a raw socket (endRaw: errors, refusals).
import type { Duplex } from 'node:stream';

const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** A chunk-size line (with extensions) longer than this is refused. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Trailer section of a chunked body, at most. */
const MAX_TRAILER_BYTES = 16 * 1024;

export interface Head {
  /** Header lines as [lower-case name, value] in order. */
  headers: [string, string][];
}

export interface RequestHead extends Head {
  method: string;
  target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number;
}

export interface ResponseHead extends Head {
  status: number;
  statusLine: string;
}

export class FramingError extends Error {
  readonly code = 'TP_ERR_HTTP_FRAMING';
}

/** Index just past the head's blank line in `bytes`, or -1 while it is not complete. */
export function headEnd(bytes: Buffer): number {
  const at = bytes.indexOf(CRLF_CRLF);
  return at === -1 ? -1 : at + 4;
}

/** A bare CR or LF, NUL or another control character (tab aside): never passed on, as Node's parser refuses it too. */
function hasControl(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

function parseHeaderLines(lines: string[]): [string, string][] | undefined {
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (hasControl(line)) return undefined;
    if (line === '') continue;
    const colon = line.indexOf(':');
    // obs-fold (a line starting with white space) and lines without a name are not ours to judge.
    if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return undefined;
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return undefined;
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return headers;
}

/** A request head (the bytes up to and including its blank line), or undefined when it is not a plain one. */
export function parseRequestHead(head: Buffer): RequestHead | undefined {
  const lines = head.toString('latin1', 0, head.length - 4).split('\r\n');
  const match = /^([A-Z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/.exec(lines[0]);
  if (!match) return undefined;
  const headers = parseHeaderLines(lines.slice(1));
  return headers && { method: match[1], target: match[2], minor: Number(match[3]), headers };
}

export function parseResponseHead(head: Buffer): ResponseHead {
  const lines = head.toString('latin1', 0, head.length - 4).split('\r\n');
  const match = hasControl(lines[0]) ? null : /^HTTP\/1\.[01] ([1-9]\d{2})(?: .*)?$/.exec(lines[0]);
  const headers = parseHeaderLines(lines.slice(1));
  if (!match || !headers) throw new FramingError(`the destination sent a malformed response head: "${lines[0].slice(0, 100)}"`);
  return { status: Number(match[1]), statusLine: lines[0], headers };
}

export function headerValues(head: Head, name: string): string[] {
  return head.headers.filter(([n]) => n === name).map(([, v]) => v);
}

/** Whether a Connection header names `token` (close, keep-alive, upgrade…). */
export function connectionHas(head: Head, token: string): boolean {
  return headerValues(head, 'connection').some((value) => value.split(',').some((t) => t.trim().toLowerCase() === token));
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']);

/** The header lines to pass on: hop-by-hop ones, those Connection lists, Proxy-* and `drop` left out. */
export function endToEndLines(head: Head, drop: ReadonlySet<string> = new Set()): string {
  const listed = new Set(headerValues(head, 'connection').flatMap((value) => value.split(',').map((t) => t.trim().toLowerCase())));
  let text = '';
  for (const [name, value] of head.headers) {
    if (HOP_BY_HOP.has(name) || listed.has(name) || name.startsWith('proxy-') || drop.has(name)) continue;
    text += `${name}: ${value}\r\n`;
  }
  return text;
}

/** How a message's body is delimited. */
export type BodyFraming = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** A request's Content-Length (0 when absent), or undefined when it is bad or there are several. */
export function requestBodyLength(head: RequestHead): number | undefined {
  const values = headerValues(head, 'content-length');
  if (values.length === 0) return 0;
  if (values.length > 1 || !/^\d{1,15}$/.test(values[0])) return undefined;
  return Number(values[0]);
}

/** RFC 9112 §6.3, for a response to `method`. */
export function responseFraming(method: string, response: ResponseHead): BodyFraming {
  if (method === 'HEAD' || response.status < 200 || response.status === 204 || response.status === 304) return { kind: 'length', length: 0 };
  const codings = headerValues(response, 'transfer-encoding');
  if (codings.length > 0) {
    const last = codings.join(',').split(',').pop()!.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const lengths = new Set(headerValues(response, 'content-length').flatMap((v) => v.split(',').map((x) => x.trim())));
  if (lengths.size === 0) return { kind: 'close' };
  const [only] = lengths;
  if (lengths.size > 1 || !/^\d{1,15}$/.test(only)) throw new FramingError('the destination sent a response with an invalid Content-Length');
  return { kind: 'length', length: Number(only) };
}

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

  take(chunk: Buffer): number {
    if (this.done) return 0;
    if (this.framing.kind === 'close') return chunk.length;
    if (this.framing.kind === 'length') {
      const n = Math.min(this.remaining, chunk.length);
      this.remaining -= n;
      this.done = this.remaining === 0;
      return n;
    }
    let at = 0;
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
    return at;
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

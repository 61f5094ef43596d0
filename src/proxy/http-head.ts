// An HTTP/1.1 head, read from its bytes for the HTTP proxy's spliced path (http-forward.ts): where
// it ends, what it says (method, target, status, the headers the proxy acts on), what it says
// about its body (RFC 9112 §6.3: none, a Content-Length, chunked, or the connection's close), and
// the head rewritten for the next hop (hop-by-hop and Proxy-* headers left out, RFC 9110
// §7.6.1). One pass over the bytes finds every line; strings are made only for the values read,
// and the lines passed on are copied as they came, never rebuilt as text: a keep-alive request
// costs about what a SOCKS5 one does (docs/http-proxy-performance.md). Heads this file does not
// take (a control byte, obs-fold, a bad Content-Length) parse as undefined, and the caller hands
// the connection to Node's HTTP server, which answers them. Bodies are http-framing.ts's.
import type { DialTarget } from './dial.js';
import { checkHost } from './host-name.js';
import { FramingError, type BodyFraming } from './http-framing.js';
import { FRAMING_HEADERS } from '../net/hop-by-hop.js';

const CRLF_CRLF = Buffer.from('\r\n\r\n');

// What a header's name is to the proxy, read from its bytes without making a string of it: a
// request or an answer costs no string per header line, only one per value read.
const OTHER = 0;
const HOST = 1;
const CONNECTION = 2;
const CONTENT_LENGTH = 3;
const TRANSFER_ENCODING = 4;
const EXPECT = 5;
const UPGRADE = 6;
export const PROXY_AUTHORIZATION = 7;
/** The other hop-by-hop headers (RFC 9110 §7.6.1) and Proxy-* ones. */
const HOP = 8;
const KIND_OF: ReadonlyMap<string, number> = new Map([
  ['host', HOST],
  ['connection', CONNECTION],
  ['content-length', CONTENT_LENGTH],
  ['transfer-encoding', TRANSFER_ENCODING],
  ['expect', EXPECT],
  ['upgrade', UPGRADE],
  ['proxy-authorization', PROXY_AUTHORIZATION],
  ['keep-alive', HOP],
  ['te', HOP],
  ['trailer', HOP],
  ['proxy-connection', HOP],
]);
/** The kinds never passed on to the next hop, one bit each. */
const NOT_PASSED = (1 << CONNECTION) | (1 << UPGRADE) | (1 << PROXY_AUTHORIZATION) | (1 << HOP);
/** Kinds no Connection header may list (RFC 9110 §7.6.1; src/net/hop-by-hop.ts FRAMING_HEADERS): they
 * frame or route the message, and a hop that dropped them would frame it one way, the next hop
 * another (a request hidden in a body). */
const NEVER_LISTED = [...FRAMING_HEADERS].reduce((bits, name) => bits | (1 << KIND_OF.get(name)!), 0);
/** tchar (RFC 9110 §5.6.2), by byte. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

/** Whether the token bytes[start, end) are `lower` (lower-case letters and '-') in any case. */
function nameIs(bytes: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  // | 0x20 folds A-Z onto a-z; it folds no other token byte onto a letter or '-'.
  for (let i = 0; i < lower.length; i++) if ((bytes[start + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

function kindOf(bytes: Buffer, start: number, end: number): number {
  // Every Proxy-* name first, `Proxy-` itself included: the lengths below are other names'.
  if (end - start >= 6 && nameIs(bytes, start, start + 6, 'proxy-')) return nameIs(bytes, start, end, 'proxy-authorization') ? PROXY_AUTHORIZATION : HOP;
  switch (end - start) {
    case 2:
      return nameIs(bytes, start, end, 'te') ? HOP : OTHER;
    case 4:
      return nameIs(bytes, start, end, 'host') ? HOST : OTHER;
    case 6:
      return nameIs(bytes, start, end, 'expect') ? EXPECT : OTHER;
    case 7:
      return nameIs(bytes, start, end, 'upgrade') ? UPGRADE : nameIs(bytes, start, end, 'trailer') ? HOP : OTHER;
    case 10:
      return nameIs(bytes, start, end, 'connection') ? CONNECTION : nameIs(bytes, start, end, 'keep-alive') ? HOP : OTHER;
    case 14:
      return nameIs(bytes, start, end, 'content-length') ? CONTENT_LENGTH : OTHER;
    case 17:
      return nameIs(bytes, start, end, 'transfer-encoding') ? TRANSFER_ENCODING : OTHER;
  }
  return OTHER;
}

/**
 * A head read in one pass over its bytes: where its first line ends and, for each header line,
 * where it starts, its colon, its end (before its CRLF) and what its name is to the proxy.
 * Strings are made only for what is asked for.
 */
export class Head {
  constructor(
    /** The head's bytes, up to and including its blank line. */
    readonly bytes: Buffer,
    readonly firstLineEnd: number,
    /** Four numbers a header line: start, colon, end, kind. */
    readonly lines: readonly number[],
  ) {}

  /** Header lines as [lower-case name, value] in order. */
  get headers(): [string, string][] {
    const headers: [string, string][] = [];
    for (let i = 0; i < this.lines.length; i += 4) headers.push([this.name(i), this.value(i)]);
    return headers;
  }

  /** The lower-case name of the header line at `i` (an index into lines). */
  name(i: number): string {
    return this.bytes.toString('latin1', this.lines[i], this.lines[i + 1]).toLowerCase();
  }

  /** The value of the header line at `i`, without the white space around it. */
  value(i: number): string {
    const [start, end] = this.valueBounds(i);
    return this.bytes.toString('latin1', start, end);
  }

  private valueBounds(i: number): [number, number] {
    let start = this.lines[i + 1] + 1;
    let end = this.lines[i + 2];
    while (start < end && (this.bytes[start] === 32 || this.bytes[start] === 9)) start++;
    while (end > start && (this.bytes[end - 1] === 32 || this.bytes[end - 1] === 9)) end--;
    return [start, end];
  }

  /** The only Content-Length when it is 1 to 15 digits, read without a string; -1 otherwise (none, several, or another form). */
  plainLength(): number {
    let length = -1;
    for (let i = 0; i < this.lines.length; i += 4) {
      if (this.lines[i + 3] !== CONTENT_LENGTH) continue;
      if (length !== -1) return -1;
      const [start, end] = this.valueBounds(i);
      if (end === start || end - start > 15) return -1;
      length = 0;
      for (let at = start; at < end; at++) {
        const c = this.bytes[at];
        if (c < 48 || c > 57) return -1;
        length = length * 10 + c - 48;
      }
    }
    return length;
  }

  private tokens: readonly string[] | undefined;

  /** The tokens of the head's Connection headers, in lower case. */
  get connectionTokens(): readonly string[] {
    if (this.tokens) return this.tokens;
    if (!this.has(CONNECTION)) return (this.tokens = NONE);
    const tokens: string[] = [];
    for (let i = 0; i < this.lines.length; i += 4) {
      if (this.lines[i + 3] !== CONNECTION) continue;
      // The usual values without a string made for them.
      const [start, end] = this.valueBounds(i);
      if (nameIs(this.bytes, start, end, 'keep-alive')) tokens.push('keep-alive');
      else if (nameIs(this.bytes, start, end, 'close')) tokens.push('close');
      else for (const token of this.value(i).split(',')) tokens.push(token.trim().toLowerCase());
    }
    return (this.tokens = tokens);
  }

  /** Whether a header line of this kind is there. */
  has(kind: number): boolean {
    for (let i = 3; i < this.lines.length; i += 4) if (this.lines[i] === kind) return true;
    return false;
  }
}

export class RequestHead extends Head {
  method = '';
  target = '';
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;

  /** Whether the request asks for more than a plain exchange: Transfer-Encoding, Expect or Upgrade. */
  get special(): boolean {
    return this.has(TRANSFER_ENCODING) || this.has(EXPECT) || this.has(UPGRADE);
  }
}

export class ResponseHead extends Head {
  status = 0;

  get statusLine(): string {
    return this.bytes.toString('latin1', 0, this.firstLineEnd);
  }
}

/** Index just past the head's blank line in `bytes`, or -1 while it is not complete. */
export function headEnd(bytes: Buffer): number {
  const at = bytes.indexOf(CRLF_CRLF);
  return at === -1 ? -1 : at + 4;
}

/**
 * A head's lines (its bytes up to and including the blank line), or undefined when a line has
 * a bare CR or LF, NUL or another control character (tab aside), never passed on, as Node's
 * parser refuses them too; or when a header line is obs-fold (starts with white space), has no
 * name or a name that is not a token: not ours to judge.
 */
function scanHead(bytes: Buffer, end: number): { firstLineEnd: number; lines: number[] } | undefined {
  // The last line ends where the head's final CRLF CRLF starts.
  const stop = end - 4;
  if (stop < 0) return undefined;
  const lines: number[] = [];
  let firstLineEnd = -1;
  let lineStart = 0;
  let colon = -1;
  for (let i = 0; i <= stop; i++) {
    const c = i === stop ? 13 : bytes[i];
    if (c === 13) {
      if (i < stop && bytes[i + 1] !== 10) return undefined;
      if (firstLineEnd === -1) firstLineEnd = i;
      else if (colon === -1) return undefined;
      else lines.push(lineStart, colon, i, kindOf(bytes, lineStart, colon));
      lineStart = i + 2;
      colon = -1;
      i++;
    } else if ((c < 0x20 && c !== 9) || c === 0x7f) {
      return undefined;
    } else if (firstLineEnd !== -1 && colon === -1) {
      if (c === 58 && i > lineStart) colon = i;
      else if (TOKEN[c] === 0) return undefined;
    }
  }
  return { firstLineEnd, lines };
}

/** Whether bytes[at, at + 8) are `HTTP/1.0` or `HTTP/1.1`. */
function isVersion(bytes: Buffer, at: number): boolean {
  for (let i = 0; i < 7; i++) if (bytes[at + i] !== HTTP_1.charCodeAt(i)) return false;
  return bytes[at + 7] === 48 || bytes[at + 7] === 49;
}
const HTTP_1 = 'HTTP/1.';

/** A request head (bytes[0, end): up to and including its blank line), or undefined when it is not a plain one. */
export function parseRequestHead(bytes: Buffer, end = bytes.length): RequestHead | undefined {
  const scan = scanHead(bytes, end);
  if (!scan) return undefined;
  // method SP request-target SP HTTP/1.x: an upper-case method, a target of visible characters.
  const lineEnd = scan.firstLineEnd;
  let methodEnd = 0;
  while (methodEnd < lineEnd && bytes[methodEnd] >= 65 && bytes[methodEnd] <= 90) methodEnd++;
  let targetEnd = methodEnd + 1;
  while (targetEnd < lineEnd && bytes[targetEnd] >= 0x21 && bytes[targetEnd] <= 0x7e) targetEnd++;
  const plain = methodEnd > 0 && bytes[methodEnd] === 32 && targetEnd > methodEnd + 1 && lineEnd - targetEnd === 9 && bytes[targetEnd] === 32 && isVersion(bytes, targetEnd + 1);
  if (!plain) return undefined;
  const head = new RequestHead(bytes, lineEnd, scan.lines);
  const line = bytes.toString('latin1', 0, targetEnd);
  head.method = line.slice(0, methodEnd);
  head.target = line.slice(methodEnd + 1);
  head.minor = bytes[lineEnd - 1] - 48;
  return head;
}

/** The response head in bytes[0, end) (up to and including its blank line). */
export function parseResponseHead(bytes: Buffer, end = bytes.length): ResponseHead {
  const scan = scanHead(bytes, end);
  // HTTP/1.x SP 3DIGIT (the first not 0), then the line's end or SP and a reason phrase.
  const lineEnd = scan?.firstLineEnd ?? 0;
  const digit = (at: number, least: number): boolean => bytes[at] >= least && bytes[at] <= 57;
  if (!scan || lineEnd < 12 || !isVersion(bytes, 0) || bytes[8] !== 32 || !digit(9, 49) || !digit(10, 48) || !digit(11, 48) || (lineEnd > 12 && bytes[12] !== 32)) {
    const first = bytes.toString('latin1', 0, Math.max(0, end - 4)).split('\r\n')[0];
    throw new FramingError(`the destination sent a malformed response head: "${first.slice(0, 100)}"`);
  }
  const head = new ResponseHead(bytes, lineEnd, scan.lines);
  head.status = Number(bytes.toString('latin1', 9, 12));
  return head;
}

export function headerValues(head: Head, name: string): string[] {
  const kind = KIND_OF.get(name);
  const values: string[] = [];
  const { lines, bytes } = head;
  for (let i = 0; i < lines.length; i += 4) {
    const match = kind === undefined ? lines[i + 3] === OTHER && nameIs(bytes, lines[i], lines[i + 1], name) : lines[i + 3] === kind;
    if (match) values.push(head.value(i));
  }
  return values;
}

/** Whether a Connection header names `token` (close, keep-alive, upgrade…). */
export function connectionHas(head: Head, token: string): boolean {
  return head.connectionTokens.includes(token);
}

/** The header a head's Connection lists that it may not (content-length, transfer-encoding or host), or undefined. */
export function listedFraming(head: Head): string | undefined {
  return head.connectionTokens.find((token) => FRAMING_HEADERS.has(token));
}

/** Connection's tokens that could name a header not left out anyway; never a framing or routing one. */
function listedNames(head: Head): readonly string[] {
  const tokens = head.connectionTokens;
  if (tokens.length === 1 && (tokens[0] === 'keep-alive' || tokens[0] === 'close')) return NONE;
  return tokens.filter((token) => {
    const kind = KIND_OF.get(token);
    return token !== 'close' && (kind === undefined || ((NOT_PASSED | NEVER_LISTED) & (1 << kind)) === 0);
  });
}
const NONE: readonly string[] = [];

/** Whether the header line at `i` passes on: not hop-by-hop, not Proxy-*, not named by Connection, not Host with `dropHost`. */
function passesOn(head: Head, i: number, listed: readonly string[], dropHost: boolean): boolean {
  const kind = head.lines[i + 3];
  if ((NOT_PASSED & (1 << kind)) !== 0 || (dropHost && kind === HOST)) return false;
  return listed.length === 0 || !listed.includes(head.name(i));
}

/**
 * The head for the next hop in one buffer: `first` (the head's own first line when undefined),
 * `before`, the header lines that pass on (copied as they came), `after` and the
 * blank line. `before` and `after` are whole lines (each ending with CRLF) or empty; the
 * caller builds them and `first` from bytes already checked.
 */
export function rewriteHead(head: Head, first: string | undefined, before: string, after: string, dropHost = false, tail?: { bytes: Buffer; start: number; end: number }): Buffer {
  const { bytes, lines } = head;
  const listed = listedNames(head);
  let size = (first === undefined ? head.firstLineEnd : first.length) + 2 + before.length + after.length + 2 + (tail ? tail.end - tail.start : 0);
  for (let i = 0; i < lines.length; i += 4) if (passesOn(head, i, listed, dropHost)) size += lines[i + 2] - lines[i] + 2;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  // Lines are copied with their CRLF (scanHead checked that every line ends with one), adjacent
  // ones in one copy: [runStart, runEnd) is the run not copied yet.
  let runStart = 0;
  let runEnd = 0;
  if (first === undefined && before.length === 0) runEnd = head.firstLineEnd + 2;
  else if (first === undefined) at = bytes.copy(out, 0, 0, head.firstLineEnd) + out.write(`\r\n${before}`, head.firstLineEnd, 'latin1');
  else at = out.write(`${first}\r\n${before}`, 0, 'latin1');
  for (let i = 0; i < lines.length; i += 4) {
    if (!passesOn(head, i, listed, dropHost)) continue;
    if (lines[i] !== runEnd) {
      at += bytes.copy(out, at, runStart, runEnd);
      runStart = lines[i];
    }
    runEnd = lines[i + 2] + 2;
  }
  at += bytes.copy(out, at, runStart, runEnd);
  at += out.write(`${after}\r\n`, at, 'latin1');
  if (tail) tail.bytes.copy(out, at, tail.start, tail.end);
  return out;
}

/** A request's Content-Length (0 when absent), or undefined when it is bad or there are several. */
export function requestBodyLength(head: RequestHead): number | undefined {
  const plain = head.plainLength();
  if (plain !== -1) return plain;
  const values = headerValues(head, 'content-length');
  if (values.length === 0) return 0;
  if (values.length > 1 || !/^\d{1,15}$/.test(values[0])) return undefined;
  return Number(values[0]);
}

/**
 * RFC 9112 §6.3, for a response to `method`. An answer whose Connection lists a framing header, or
 * with both Transfer-Encoding and Content-Length (as Node's client on the other path), is refused.
 */
export function responseFraming(method: string, response: ResponseHead): BodyFraming {
  const listed = listedFraming(response);
  if (listed !== undefined) throw new FramingError(`the destination's Connection header lists ${listed}, which no hop may drop`);
  if (response.has(TRANSFER_ENCODING) && response.has(CONTENT_LENGTH)) throw new FramingError('the destination sent both Transfer-Encoding and Content-Length');
  if (method === 'HEAD' || response.status < 200 || response.status === 204 || response.status === 304) return { kind: 'length', length: 0 };
  const codings = response.has(TRANSFER_ENCODING) ? headerValues(response, 'transfer-encoding') : [];
  if (codings.length > 0) {
    const last = codings.join(',').split(',').pop()!.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const plain = response.plainLength();
  if (plain !== -1) return { kind: 'length', length: plain };
  const values = headerValues(response, 'content-length');
  if (values.length === 0) return { kind: 'close' };
  // Repeated equal values, in one line or several, are one length (RFC 9110 §8.6).
  const lengths = values.length === 1 && !values[0].includes(',') ? values : [...new Set(values.flatMap((v) => v.split(',').map((x) => x.trim())))];
  const [only] = lengths;
  if (lengths.length > 1 || !/^\d{1,15}$/.test(only)) throw new FramingError('the destination sent a response with an invalid Content-Length');
  return { kind: 'length', length: Number(only) };
}

/** An absolute-form target's origin: where to dial, and the Host header to send. */
export interface Origin extends DialTarget {
  authority: string;
  hostHeader: string;
}

/**
 * An `http://` target's origin and path (origin-form, as the client wrote it, as http-proxy
 * passed it), or undefined for an authority that is not a plain host and port. `last`, when the
 * authority is the same, is reused: the authority is parsed once per origin, not per request.
 */
export function splitTarget(target: string, last: Origin | undefined): { origin: Origin; path: string } | undefined {
  let pathStart = 7;
  while (pathStart < target.length && target.charCodeAt(pathStart) !== 47 && target.charCodeAt(pathStart) !== 63) pathStart++;
  const same = last !== undefined && pathStart === 7 + last.authority.length && target.startsWith(last.authority, 7);
  const origin = same ? last : parseOrigin(target.slice(7, pathStart));
  if (!origin) return undefined;
  const path = pathStart === target.length ? '/' : target.charCodeAt(pathStart) === 47 ? target.slice(pathStart) : `/${target.slice(pathStart)}`;
  return { origin, path };
}

function parseOrigin(authority: string): Origin | undefined {
  let url: URL;
  try {
    url = new URL(`http://${authority}`);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.pathname !== '/') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!checkHost(host).ok) return undefined;
  return { authority, hostHeader: url.host, host, port: Number(url.port || 80) };
}

// Fuzz target: the HTTP proxy's spliced path's framing (src/proxy/http-framing.ts and
// http-head.ts): request heads a local client sends, response heads and bodies a destination sends back. The first byte picks how
// the rest is cut into reads; the rest is the message. Contract: request heads parse or are
// refused (undefined), never throw, and what is kept is clean (an upper-case method, a target of
// visible characters, token header names, no control character in a value) so the head rewritten
// for the next hop has only its own line ends, keeps every Content-Length and Transfer-Encoding
// line whatever Connection lists, and has no Proxy-* line; a response head, its framing and a bad
// body throw FramingError and nothing else, and an answer is framed only when its Connection
// lists no framing header and it does not carry both Transfer-Encoding and Content-Length; a
// body is counted the same however its bytes are cut, never past the bytes given, and no count
// of bytes grows without limit (chunk lines and trailers are capped).
import { BodyCounter, FramingError, type BodyFraming } from '../../../src/proxy/http-framing.js';
import { headEnd, parseRequestHead, parseResponseHead, requestBodyLength, responseFraming, rewriteHead } from '../../../src/proxy/http-head.js';
import { check, chunks, expectTyped } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/proxy/http-framing.ts', 'src/proxy/http-head.ts'];
/**
 * jsfuzz's versifier (which rebuilds text inputs from their "words") grew this target's inputs to
 * hundreds of kilobytes within seconds and ran jsfuzz's own process out of heap (4 GB); byte
 * mutations alone reach the same coverage here.
 */
export const versifier = false;

const MAX_INPUT_BYTES = 16 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Headers that frame or route a message: no Connection header may have them left out. */
const FRAMING = ['content-length', 'transfer-encoding', 'host'];

/** The lower-case names a head's Connection headers list. */
function connectionListed(headers: [string, string][]): string[] {
  return headers.filter(([name]) => name === 'connection').flatMap(([, value]) => value.split(',').map((token) => token.trim().toLowerCase()));
}

function framingError(error: unknown, what: string): void {
  expectTyped(error, (e) => e instanceof FramingError, what);
}

function checkRequest(head: Buffer): void {
  const request = parseRequestHead(head);
  if (!request) return;
  check(/^[A-Z]+$/.test(request.method), `method ${JSON.stringify(request.method)}`);
  check(/^[\x21-\x7e]+$/.test(request.target), `target ${JSON.stringify(request.target)}`);
  check(request.minor === 0 || request.minor === 1, `minor version ${request.minor}`);
  for (const [name, value] of request.headers) {
    check(TOKEN.test(name), `header name ${JSON.stringify(name)}`);
    check(![...value].some((c) => (c < ' ' && c !== '\t') || c === '\x7f'), `header value ${JSON.stringify(value)}`);
  }
  // The head as the proxy passes it on (rewriteHead, what ships), its header lines between the
  // first line and the blank line.
  const rewritten = rewriteHead(request, undefined, '', '').toString('latin1');
  check(rewritten.endsWith('\r\n\r\n'), 'the rewritten head ends with its blank line');
  const lines = rewritten.slice(0, -4).split('\r\n').slice(1);
  for (const line of lines) check(!/[\r\n]/.test(line), `a bare line end in ${JSON.stringify(line)}`);
  const framingLines = (names: string[]): number => names.filter((name) => name === 'content-length' || name === 'transfer-encoding').length;
  const passed = lines.map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
  check(framingLines(passed) === framingLines(request.headers.map(([name]) => name)), `a framing header left out of ${JSON.stringify(lines)}`);
  check(!passed.some((name) => name.startsWith('proxy-')), `a Proxy-* header passed on in ${JSON.stringify(lines)}`);
  const length = requestBodyLength(request);
  check(length === undefined || (Number.isSafeInteger(length) && length >= 0), `request body length ${length}`);
}

/** Counts `body` under `framing`, in the reads `seed` gives: how many bytes were the body, done, or the error. */
function count(framing: BodyFraming, body: Buffer, seed: number): string {
  const counter = new BodyCounter(framing);
  let taken = 0;
  try {
    for (const read of chunks(body, seed)) {
      const n = counter.take(read);
      check(Number.isInteger(n) && n >= 0 && n <= read.length, `took ${n} of a ${read.length}-byte read`);
      taken += n;
      // What follows a complete body is the next message, not this one's.
      if (counter.done || n < read.length) break;
    }
  } catch (error) {
    framingError(error, 'BodyCounter.take');
    return 'error';
  }
  return `${taken}/${counter.done}`;
}

function checkBody(framing: BodyFraming, body: Buffer, seed: number): void {
  const whole = count(framing, body, 0);
  const cut = count(framing, body, seed);
  check(whole === cut, `body counted ${whole} whole but ${cut} in reads`);
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const seed = data[0];
  // The proxy keeps at most a head's cap of bytes in hand; longer inputs add nothing but time.
  const bytes = data.subarray(1, 1 + MAX_INPUT_BYTES);
  const end = headEnd(bytes);
  check(end === -1 || (end >= 4 && end <= bytes.length), `head end ${end} of ${bytes.length}`);
  const head = end === -1 ? Buffer.concat([bytes, Buffer.from('\r\n\r\n')]) : bytes.subarray(0, end);
  const body = end === -1 ? bytes : bytes.subarray(end);
  checkRequest(head);
  try {
    const response = parseResponseHead(head);
    check(response.status >= 100 && response.status <= 999, `status ${response.status}`);
    for (const method of ['GET', 'HEAD']) {
      try {
        const framing = responseFraming(method, response);
        const names = response.headers.map(([name]) => name);
        check(!(names.includes('transfer-encoding') && names.includes('content-length')), 'an answer framed with both Transfer-Encoding and Content-Length');
        check(!connectionListed(response.headers).some((name) => FRAMING.includes(name)), 'an answer framed whose Connection lists a framing header');
        if (method === 'HEAD') check(framing.kind === 'length' && framing.length === 0, 'a response to HEAD has no body');
        if (framing.kind === 'length') check(Number.isSafeInteger(framing.length) && framing.length >= 0, `length ${framing.length}`);
        checkBody(framing, body, seed);
      } catch (error) {
        framingError(error, `responseFraming(${method})`);
      }
    }
  } catch (error) {
    framingError(error, 'parseResponseHead');
  }
  // The body rules on their own, whatever the head said.
  checkBody({ kind: 'chunked' }, bytes, seed);
  checkBody({ kind: 'length', length: bytes.length >> 1 }, bytes, seed);
}

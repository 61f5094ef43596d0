// Fuzz target: the SOCKS5 parsers (src/proxy/socks5-protocol.ts): the greeting and request a
// local client sends to the daemon, and the method choice and reply an upstream SOCKS proxy sends
// back. Every parser sees the same bytes. Contract: each returns undefined (more bytes needed), a
// message, or throws Socks5ProtocolError; a message never claims more bytes than the parser's
// limit or than it was given, and parses the same from exactly its own bytes; any shorter prefix
// only asks for more; a request, reply or username/password request encodes back to the bytes it
// came from.
import { isIP } from 'node:net';
import { parseIp } from '../../../src/net/cidr.js';
import {
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  MAX_USERPASS_BYTES,
  encodeUserPass,
  SOCKS_ATYP,
  Socks5ProtocolError,
  encodeAddress,
  parseGreeting,
  parseReply,
  parseRequest,
  parseTwoBytes,
  parseUserPass,
} from '../../../src/proxy/socks5-protocol.js';
import { check, expectTyped } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/proxy/socks5-protocol.ts'];

type Parser<T extends { consumed: number }> = (bytes: Buffer) => T | undefined;

function attempt<T extends { consumed: number }>(parse: Parser<T>, bytes: Buffer, name: string): T | undefined | 'error' {
  try {
    return parse(bytes);
  } catch (error) {
    expectTyped(error, (e) => e instanceof Socks5ProtocolError, name);
    return 'error';
  }
}

function checkParser<T extends { consumed: number }>(parse: Parser<T>, bytes: Buffer, name: string, maxBytes: number): T | undefined {
  const result = attempt(parse, bytes, name);
  if (result === undefined || result === 'error') return undefined;
  check(result.consumed >= 1 && result.consumed <= Math.min(bytes.length, maxBytes), `${name} consumed ${result.consumed} of ${bytes.length}`);
  const own = bytes.subarray(0, result.consumed);
  check(JSON.stringify(attempt(parse, own, name)) === JSON.stringify(result), `${name} reads its own bytes differently`);
  // A short read is never an error and never a message.
  for (let length = 0; length < result.consumed; length++) check(attempt(parse, own.subarray(0, length), name) === undefined, `${name} of a ${length}-byte prefix`);
  return result;
}

/** DST.ADDR and DST.PORT as they would be encoded, when the host reads back as the same type. */
function checkAddress(bytes: Buffer, parsed: { host: string; port: number; addressType: number }, name: string): void {
  check(parsed.host.length > 0 && parsed.port >= 0 && parsed.port <= 0xffff, `${name} address ${parsed.host}:${parsed.port}`);
  if (parsed.addressType === SOCKS_ATYP.DOMAIN) {
    // A name that is an IP literal is sent as an address, so it cannot come back byte for byte.
    if (isIP(parsed.host) !== 0) return;
  } else {
    check(isIP(parsed.host) === (parsed.addressType === SOCKS_ATYP.IPV4 ? 4 : 6), `${name} address type ${parsed.addressType} gave ${parsed.host}`);
    // tp treats IPv4-mapped IPv6 as the IPv4 address (cidr.ts), so it is sent back as one.
    if (parseIp(parsed.host)?.length !== (parsed.addressType === SOCKS_ATYP.IPV4 ? 4 : 16)) return;
  }
  check(encodeAddress(parsed.host, parsed.port).equals(bytes.subarray(3)), `${name} ${parsed.host}:${parsed.port} does not encode back`);
}

export function fuzz(data: Buffer): void {
  const greeting = checkParser(parseGreeting, data, 'parseGreeting', MAX_GREETING_BYTES);
  if (greeting) check(greeting.methods.length === greeting.consumed - 2 && greeting.methods.length > 0, 'greeting methods');
  const request = checkParser(parseRequest, data, 'parseRequest', MAX_REQUEST_BYTES);
  if (request) checkAddress(data.subarray(0, request.consumed), request, 'parseRequest');
  const reply = checkParser(parseReply, data, 'parseReply', MAX_REQUEST_BYTES);
  if (reply) checkAddress(data.subarray(0, reply.consumed), { ...reply, addressType: data[3] }, 'parseReply');
  checkParser(parseTwoBytes, data, 'parseTwoBytes', 2);
  const userPass = checkParser(parseUserPass, data, 'parseUserPass', MAX_USERPASS_BYTES);
  if (userPass) {
    check(userPass.consumed === 3 + userPass.username.length + userPass.password.length, 'parseUserPass lengths');
    // Names that are valid UTF-8 encode back to the bytes they came from.
    const [user, pass] = [userPass.username.toString('utf8'), userPass.password.toString('utf8')];
    if (Buffer.from(user).equals(userPass.username) && Buffer.from(pass).equals(userPass.password)) {
      check(encodeUserPass(user, pass).equals(data.subarray(0, userPass.consumed)), 'parseUserPass does not encode back');
    }
  }
}

// SOCKS5 wire format (RFC 1928, RFC 1929): constants, pure parsers for what a client sends
// (method greeting, request) and what a server sends (method choice, reply), and pure encoders for
// both. Parsers take the bytes received so far and return undefined when more are needed (a short
// read is never an error), or throw Socks5ProtocolError carrying the reply to send. Used by
// socks-server.ts (server side) and upstream-proxy.ts (client side, to a corporate SOCKS proxy).
//
// Written by hand rather than with the `socksv5` package: socksv5 0.0.6 formats IPv6 destinations
// wrongly (2001:db8::1 arrives as "201:db8:00:…"), answers deny/unsupported commands with a 2-byte
// reply instead of RFC 1928 §6's full one, and its custom-dial API can only accept or "deny" (0x02),
// so a refused or unreachable destination cannot get its own reply code.
import { isIPv4, isIPv6 } from 'node:net';
import { TpError } from '../errors.js';
import { formatIp, parseIp } from '../net/cidr.js';
import { SOCKS_REPLY } from './dial.js';

export const SOCKS_VERSION = 0x05;
/** RFC 1929 sub-negotiation version. */
export const USERPASS_VERSION = 0x01;

export const SOCKS_METHOD = {
  NO_AUTH: 0x00,
  USERNAME_PASSWORD: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;

export const SOCKS_COMMAND = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const;

export const SOCKS_ATYP = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const;

/** VER, NMETHODS, up to 255 methods. */
export const MAX_GREETING_BYTES = 2 + 255;
/** VER, CMD, RSV, ATYP, a length-prefixed name of up to 255 bytes, PORT. */
export const MAX_REQUEST_BYTES = 4 + 1 + 255 + 2;

/** A client broke the protocol; `reply` is the RFC 1928 §6 code to answer with (if any). */
export class Socks5ProtocolError extends TpError {
  readonly reply: number | undefined;

  constructor(message: string, reply?: number) {
    super('TP_ERR_SOCKS_PROTOCOL', message);
    this.name = 'Socks5ProtocolError';
    this.reply = reply;
  }
}

export interface Socks5Greeting {
  methods: number[];
  consumed: number;
}

export interface Socks5Request {
  command: number;
  host: string;
  port: number;
  addressType: number;
  consumed: number;
}

/** Parses the client's method greeting (RFC 1928 §3). */
export function parseGreeting(bytes: Buffer): Socks5Greeting | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] !== SOCKS_VERSION) throw new Socks5ProtocolError(`not SOCKS version 5 (first byte 0x${bytes[0].toString(16)})`);
  if (bytes.length < 2) return undefined;
  const count = bytes[1];
  if (count === 0) throw new Socks5ProtocolError('the greeting offers no authentication methods');
  if (bytes.length < 2 + count) return undefined;
  return { methods: Array.from(bytes.subarray(2, 2 + count)), consumed: 2 + count };
}

/** Reads ATYP, DST.ADDR and DST.PORT starting at `offset`; undefined when more bytes are needed. */
function parseAddress(bytes: Buffer, offset: number): { host: string; port: number; addressType: number; end: number } | undefined {
  if (bytes.length < offset + 1) return undefined;
  const addressType = bytes[offset];
  let host: string;
  let at = offset + 1;
  if (addressType === SOCKS_ATYP.IPV4 || addressType === SOCKS_ATYP.IPV6) {
    const size = addressType === SOCKS_ATYP.IPV4 ? 4 : 16;
    if (bytes.length < at + size + 2) return undefined;
    host = formatIp(bytes.subarray(at, at + size));
    at += size;
  } else if (addressType === SOCKS_ATYP.DOMAIN) {
    if (bytes.length < at + 1) return undefined;
    const size = bytes[at];
    if (size === 0) throw new Socks5ProtocolError('empty domain name', SOCKS_REPLY.GENERAL_FAILURE);
    if (bytes.length < at + 1 + size + 2) return undefined;
    host = bytes.toString('latin1', at + 1, at + 1 + size);
    at += 1 + size;
  } else {
    throw new Socks5ProtocolError(`unknown address type 0x${addressType.toString(16)}`, SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  return { host, port: bytes.readUInt16BE(at), addressType, end: at + 2 };
}

/** Parses a request (RFC 1928 §4). Any command parses; the server decides which it supports. */
export function parseRequest(bytes: Buffer): Socks5Request | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] !== SOCKS_VERSION) throw new Socks5ProtocolError(`request is not SOCKS version 5 (0x${bytes[0].toString(16)})`, SOCKS_REPLY.GENERAL_FAILURE);
  if (bytes.length < 3) return undefined;
  const address = parseAddress(bytes, 3);
  if (!address) return undefined;
  return { command: bytes[1], host: address.host, port: address.port, addressType: address.addressType, consumed: address.end };
}

/** Encodes DST/BND address bytes: an IP literal as IPv4/IPv6, anything else as a domain name. */
export function encodeAddress(host: string, port: number): Buffer {
  const ip = isIPv4(host) || isIPv6(host) ? parseIp(host) : undefined;
  let head: Buffer;
  if (ip && ip.length === 4) head = Buffer.from([SOCKS_ATYP.IPV4, ...ip]);
  else if (ip) head = Buffer.from([SOCKS_ATYP.IPV6, ...ip]);
  else {
    const name = Buffer.from(host, 'latin1');
    if (name.length === 0 || name.length > 255) throw new Socks5ProtocolError(`a SOCKS5 domain name must be 1-255 bytes, got ${name.length}`);
    head = Buffer.concat([Buffer.from([SOCKS_ATYP.DOMAIN, name.length]), name]);
  }
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([head, portBytes]);
}

/** The server's method choice (RFC 1928 §3). */
export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** A full RFC 1928 §6 reply; the bound address defaults to 0.0.0.0:0. */
export function encodeReply(reply: number, bound: { host: string; port: number } = { host: '0.0.0.0', port: 0 }): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, reply, 0x00]), encodeAddress(bound.host, bound.port)]);
}

/** A client greeting offering the given methods. */
export function encodeGreeting(methods: number[]): Buffer {
  return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** A client request. */
export function encodeRequest(command: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, command, 0x00]), encodeAddress(host, port)]);
}

/** RFC 1929 username/password request. */
export function encodeUserPass(username: string, password: string): Buffer {
  const user = Buffer.from(username, 'utf8');
  const pass = Buffer.from(password, 'utf8');
  if (user.length > 255 || pass.length > 255) throw new Socks5ProtocolError('SOCKS5 username and password must each be at most 255 bytes');
  return Buffer.concat([Buffer.from([USERPASS_VERSION, user.length]), user, Buffer.from([pass.length]), pass]);
}

/** VER, ULEN, up to 255 bytes of name, PLEN, up to 255 bytes of password. */
export const MAX_USERPASS_BYTES = 1 + 1 + 255 + 1 + 255;

/** Parses a client's RFC 1929 username/password request (bytes, compared as given). */
export function parseUserPass(bytes: Buffer): { username: Buffer; password: Buffer; consumed: number } | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] !== USERPASS_VERSION) throw new Socks5ProtocolError(`username/password request is not version 1 (0x${bytes[0].toString(16)})`);
  if (bytes.length < 2) return undefined;
  const userEnd = 2 + bytes[1];
  if (bytes.length < userEnd + 1) return undefined;
  const end = userEnd + 1 + bytes[userEnd];
  if (bytes.length < end) return undefined;
  return { username: bytes.subarray(2, userEnd), password: bytes.subarray(userEnd + 1, end), consumed: end };
}

/** The server's RFC 1929 status: 0x00 success, anything else failure (the client must close). */
export function encodeUserPassStatus(ok: boolean): Buffer {
  return Buffer.from([USERPASS_VERSION, ok ? 0x00 : 0x01]);
}

/** Parses a server's method choice or RFC 1929 status: two bytes. */
export function parseTwoBytes(bytes: Buffer): { first: number; second: number; consumed: number } | undefined {
  if (bytes.length < 2) return undefined;
  return { first: bytes[0], second: bytes[1], consumed: 2 };
}

/** Parses a server's reply to a request (RFC 1928 §6). */
export function parseReply(bytes: Buffer): { reply: number; host: string; port: number; consumed: number } | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] !== SOCKS_VERSION) throw new Socks5ProtocolError(`the SOCKS server answered with version 0x${bytes[0].toString(16)}`);
  if (bytes.length < 3) return undefined;
  const address = parseAddress(bytes, 3);
  if (!address) return undefined;
  return { reply: bytes[1], host: address.host, port: address.port, consumed: address.end };
}

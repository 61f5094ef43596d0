// IP addresses and CIDR blocks as bytes, for the routing decision (routing.ts) and the DNS stub's
// reverse names (PTR). IPv4 and IPv6; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as
// the IPv4 address it carries, so a v4 CIDR matches it. Leaves out zone ids (fe80::1%eth0 parses
// without its zone) and anything about hosts or names.
import { isIPv4, isIPv6 } from 'node:net';
import { TpError } from '../errors.js';

export interface Cidr {
  /** The text it was parsed from, for reasons and logs. */
  readonly text: string;
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** An address or CIDR that does not parse. */
export class CidrError extends TpError {
  constructor(text: string, why: string) {
    super('TP_ERR_ROUTING_BAD_CIDR', `"${text}" is not a valid IP address or CIDR: ${why}`, {
      hints: ['Write CIDRs as 10.96.0.0/12 or fd00:10:96::/112.'],
    });
  }
}

/** The address's bytes (4 for IPv4 and IPv4-mapped IPv6, 16 for IPv6), or undefined if not an IP literal. */
export function parseIp(text: string): Uint8Array | undefined {
  let address = text;
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const zone = address.indexOf('%');
  if (zone !== -1) address = address.slice(0, zone);
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const bytes = parseIPv6(address);
  const mapped = bytes.subarray(0, 12).every((b, i) => (i < 10 ? b === 0 : b === 0xff));
  return mapped ? bytes.slice(12) : bytes;
}

function parseIPv6(address: string): Uint8Array {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 tail (::ffff:10.0.0.1) is the last two 16-bit groups.
    const v4 = last.split('.').map(Number);
    const high = ((v4[0] << 8) | v4[1]).toString(16);
    const low = ((v4[2] << 8) | v4[3]).toString(16);
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const [head, rest] = text.split('::');
  const toGroups = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const headGroups = toGroups(head);
  const restGroups = toGroups(rest);
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<number>(zeros).fill(0), ...restGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** Parses `a.b.c.d/n`, `v6/n`, or a bare address (a /32 or /128). Throws CidrError. */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const bytes = parseIp(addressText);
  if (!bytes) throw new CidrError(text, 'not an IP address');
  const max = bytes.length * 8;
  const offset = bytes.length === 4 && isIPv6(addressText) ? 96 : 0;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) throw new CidrError(text, 'the prefix length is not a number');
    prefix = Number(prefixText) - offset;
    if (prefix < 0 || prefix > max) throw new CidrError(text, `the prefix length must be between ${offset} and ${max + offset}`);
  }
  return { text: trimmed, bytes, prefix };
}

/** Whether `cidr` contains the address (bytes from parseIp). */
export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  if (cidr.bytes.length !== address.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i] & mask) !== (address[i] & mask)) return false;
  }
  return true;
}

/** The first CIDR in the list that contains the address. */
export function findCidr(cidrs: readonly Cidr[], address: Uint8Array): Cidr | undefined {
  return cidrs.find((cidr) => cidrContains(cidr, address));
}

/** Formats address bytes as text (dotted IPv4, or full lower-case IPv6 groups joined by ':'). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}

// The check every front door runs on a destination host that came from a client (a SOCKS5
// domain name, an HTTP CONNECT authority, an absolute-form URL's host) before routing or dialling
// it: an IP literal, or a DNS host name by RFC 1123 §2.1 — labels of letters, digits and hyphens,
// not starting or ending with a hyphen, 1-63 bytes each, 253 bytes in all (RFC 1035's 255-byte
// wire form less its first length byte and the root), one trailing dot allowed.
// Two choices beyond RFC 1123:
// - Underscores are allowed anywhere in a label: SRV and service names (`_sip._tcp.example`) and
//   many real internal host names have them, resolvers and browsers accept them, and they carry
//   no risk (the point is to refuse control characters, spaces, `%`, `/` and other bytes that
//   could reach a log, a resolver or a URL).
// - The last label may not be a number (`1.2.3`, `10.0x7f`): RFC 1123 §2.1 says a host name is
//   never numeric at the top, and such strings are read as IPv4 shorthand by inet_aton and URL
//   parsers, so routing would see a name where the system sees an address.
// Non-ASCII names must arrive as punycode (`xn--…`), as browsers and curl send them.
// Leaves out the refusal itself: each front door answers in its own protocol.
import { isIPv4, isIPv6 } from 'node:net';

/** RFC 1035 §2.3.4 (see above for the 253). */
export const MAX_HOST_NAME_BYTES = 253;
export const MAX_LABEL_BYTES = 63;

export type HostCheck = { ok: true } | { ok: false; why: string };

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
const NUMERIC = /^(?:\d+|0x[0-9a-f]*)$/i;

/** Whether `host` is an IPv4 literal, an IPv6 literal (bare or in brackets) or a valid host name. */
export function checkHost(host: string): HostCheck {
  if (isIPv4(host) || isIPv6(host)) return { ok: true };
  if (host.startsWith('[')) {
    return host.endsWith(']') && isIPv6(host.slice(1, -1)) ? { ok: true } : { ok: false, why: 'the bracketed address is not an IPv6 address' };
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0) return { ok: false, why: 'the host name is empty' };
  if (name.length > MAX_HOST_NAME_BYTES) return { ok: false, why: `the host name is longer than ${MAX_HOST_NAME_BYTES} bytes` };
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) return { ok: false, why: 'the host name has an empty label' };
    if (label.length > MAX_LABEL_BYTES) return { ok: false, why: `a label of the host name is longer than ${MAX_LABEL_BYTES} bytes` };
    if (!LABEL.test(label)) return { ok: false, why: 'a label of the host name has a character other than letters, digits, "-" and "_", or starts or ends with "-"' };
  }
  if (NUMERIC.test(labels[labels.length - 1])) return { ok: false, why: 'the host name ends in a number but is not an IPv4 address' };
  return { ok: true };
}

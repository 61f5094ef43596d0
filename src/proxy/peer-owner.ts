// Who owns the other end of a loopback connection or the source of a datagram, on Linux: the uid of
// the socket bound to that address and port, read from /proc/net/{tcp,tcp6,udp,udp6} as an ident
// server does. The laptop's front doors use it to let in only their own user. Where the row is gone
// (the client already closed, or it sits in TIME_WAIT with no owner) the answer is undefined and the
// caller refuses. Leaves out what to do with the answer and every other platform.
import { access, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { parseIp } from './cidr.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** One row of a /proc/net table: both ends (address bytes, 4 for IPv4 and IPv4-mapped) and the owner. */
export interface ProcNetRow {
  readonly local: { readonly bytes: Uint8Array; readonly port: number };
  readonly remote: { readonly bytes: Uint8Array; readonly port: number };
  readonly uid: number;
  readonly inode: number;
}

const TCP_TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
const UDP_TABLES = ['/proc/net/udp', '/proc/net/udp6'];
const LITTLE_ENDIAN = endianness() === 'LE';

/** True where the tables exist (Linux with /proc mounted). */
export async function peerOwnerSupported(): Promise<boolean> {
  return access(TCP_TABLES[0]).then(
    () => true,
    () => false,
  );
}

/**
 * The uid owning the peer of an accepted TCP connection whose own ends are `local` and `remote`:
 * the row whose local end is our remote end and whose remote end is our local end.
 */
export async function tcpPeerUid(local: Endpoint, remote: Endpoint): Promise<number | undefined> {
  const peer = toBytes(remote);
  const us = toBytes(local);
  if (!peer || !us) return undefined;
  return findUid(TCP_TABLES, (row) => sameEnd(row.local, peer) && sameEnd(row.remote, us));
}

/**
 * The uid owning the socket a datagram came from: its local end is the datagram's source, or the
 * wildcard address (0.0.0.0, ::) on the source port for a sender that never bound an address.
 */
export async function udpSourceUid(source: Endpoint): Promise<number | undefined> {
  const peer = toBytes(source);
  if (!peer) return undefined;
  return findUid(UDP_TABLES, (row) => sameEnd(row.local, peer) || (row.local.port === peer.port && row.local.bytes.every((byte) => byte === 0)));
}

/** Parses one line of a /proc/net/{tcp,udp}{,6} table; undefined for the header or anything malformed. */
export function parseProcNetLine(line: string): ProcNetRow | undefined {
  const fields = line.trim().split(/\s+/);
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
  if (fields.length < 10 || !/^\d+:$/.test(fields[0])) return undefined;
  const local = parseEnd(fields[1]);
  const remote = parseEnd(fields[2]);
  if (!local || !remote) return undefined;
  if (!/^\d{1,10}$/.test(fields[7]) || !/^\d{1,20}$/.test(fields[9])) return undefined;
  const uid = Number(fields[7]);
  const inode = Number(fields[9]);
  if (uid > 0xffffffff || !Number.isSafeInteger(inode)) return undefined;
  return { local, remote, uid, inode };
}

async function findUid(tables: string[], matches: (row: ProcNetRow) => boolean): Promise<number | undefined> {
  const uids = new Set<number>();
  for (const table of tables) {
    const text = await readFile(table, 'latin1').catch(() => '');
    for (const line of text.split('\n')) {
      const row = parseProcNetLine(line);
      // A socket with no inode (TIME_WAIT, or being torn down) has no owner any more.
      if (row && row.inode !== 0 && matches(row)) uids.add(row.uid);
    }
  }
  // Two owners of one end (port sharing across users) is no answer either.
  return uids.size === 1 ? [...uids][0] : undefined;
}

/** "0100007F:1F90" (IPv4, one host-order word) or 32 hex digits (IPv6, four host-order words) and a port. */
function parseEnd(text: string): { bytes: Uint8Array; port: number } | undefined {
  const match = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!match) return undefined;
  const hex = match[1];
  const bytes = new Uint8Array(hex.length / 2);
  for (let word = 0; word < hex.length / 8; word++) {
    for (let i = 0; i < 4; i++) {
      const value = parseInt(hex.slice(word * 8 + i * 2, word * 8 + i * 2 + 2), 16);
      bytes[word * 4 + (LITTLE_ENDIAN ? 3 - i : i)] = value;
    }
  }
  return { bytes: unmapped(bytes), port: parseInt(match[2], 16) };
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 IPv4 bytes; anything else as is. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  const mapped = bytes.subarray(0, 12).every((b, i) => (i < 10 ? b === 0 : b === 0xff));
  return mapped ? bytes.slice(12) : bytes;
}

function toBytes(end: Endpoint): { bytes: Uint8Array; port: number } | undefined {
  const bytes = parseIp(end.address);
  return bytes ? { bytes, port: end.port } : undefined;
}

function sameEnd(a: { bytes: Uint8Array; port: number }, b: { bytes: Uint8Array; port: number }): boolean {
  return a.port === b.port && a.bytes.length === b.bytes.length && a.bytes.every((byte, i) => byte === b.bytes[i]);
}

// Who owns the other end of a loopback connection or the source of a datagram, on Linux: the uid of
// the socket bound to that address and port. Asked first with an exact netlink sock_diag query
// through the tp-peer-uid helper (sock-diag.ts); where that is not available, read from
// /proc/net/{tcp,tcp6,udp,udp6} as an ident server does. The laptop's front doors use it to let in only their own user. Where the row is gone
// (the client already closed, or it sits in TIME_WAIT with no owner) the answer is undefined and the
// caller refuses. Leaves out what to do with the answer and every other platform.
//
// Cost of the /proc way: a table holds a row per socket on the machine (two per loopback
// connection), and the kernel prints it by walking its whole socket hash, so reading and parsing
// it for every connection made 10,000 concurrent connections cost minutes of CPU. So lookups queue, one read of a table answers every lookup queued while the previous read ran, and
// a row is only parsed when its address text is one some lookup is waiting for.
import { access, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { parseIp } from '../net/cidr.js';
import { PEER_UID_HELPER, SockDiag, type DiagAnswer, type SocketEnd } from './sock-diag.js';

/** An address and port, as Node's sockets report them. */
export type Endpoint = SocketEnd;

/** One row of a /proc/net table: both ends (address bytes, 4 for IPv4 and IPv4-mapped) and the owner. */
export interface ProcNetRow {
  readonly local: { readonly bytes: Uint8Array; readonly port: number };
  readonly remote: { readonly bytes: Uint8Array; readonly port: number };
  readonly uid: number;
  readonly inode: number;
}

type Protocol = 'tcp' | 'udp';
interface End {
  bytes: Uint8Array;
  port: number;
}

const TABLES: Record<Protocol, { v4: string; v6: string }> = {
  tcp: { v4: '/proc/net/tcp', v6: '/proc/net/tcp6' },
  udp: { v4: '/proc/net/udp', v6: '/proc/net/udp6' },
};
const LITTLE_ENDIAN = endianness() === 'LE';

let diag = new SockDiag(PEER_UID_HELPER);

/** Which way to ask first: the helper at `helper` (undefined: /proc only). For tests and benchmarks. */
export function useSockDiag(helper: string | undefined): void {
  diag.close();
  diag = new SockDiag(helper);
}

/** A netlink answer as a uid, or the /proc lookup's where netlink could not say. */
async function orProc(answer: DiagAnswer, proc: () => Promise<number | undefined>): Promise<number | undefined> {
  if (answer === 'unknown') return proc();
  return answer === 'none' ? undefined : answer;
}

/** True where the tables exist (Linux with /proc mounted). */
export async function peerOwnerSupported(): Promise<boolean> {
  return access(TABLES.tcp.v4).then(
    () => true,
    () => false,
  );
}

/**
 * The uid owning the peer of an accepted TCP connection whose own ends are `local` and `remote`:
 * the row whose local end is our remote end and whose remote end is our local end.
 */
export async function tcpPeerUid(local: Endpoint, remote: Endpoint): Promise<number | undefined> {
  const peer = toEnd(remote);
  const us = toEnd(local);
  if (!peer || !us) return undefined;
  return orProc(await diag.tcp(remote, local), () => lookUp('tcp', (family) => {
    const a = endText(peer, family);
    const b = endText(us, family);
    return a && b ? [`${a} ${b}`] : [];
  }));
}

/**
 * The uid owning the socket a datagram came from: its local end is the datagram's source, or the
 * wildcard address (0.0.0.0, ::) on the source port for a sender that never bound an address.
 * `local` (where the datagram arrived) lets the exact netlink query be asked.
 */
export async function udpSourceUid(source: Endpoint, local?: Endpoint): Promise<number | undefined> {
  const peer = toEnd(source);
  if (!peer) return undefined;
  const proc = () =>
    lookUp('udp', (family) => {
      const own = endText(peer, family);
      const wildcard = endText({ bytes: new Uint8Array(family === 'v4' ? 4 : 16), port: peer.port }, family);
      return [own, wildcard].filter((key): key is string => !!key);
    });
  return local ? orProc(await diag.udp(source, local), proc) : proc();
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

/** A lookup waiting for the next read: the row keys it matches in each table, the owners seen. */
interface Lookup {
  keys: Record<'v4' | 'v6', string[]>;
  uids: Set<number>;
  answer: (uid: number | undefined) => void;
}

const queued: Record<Protocol, Lookup[]> = { tcp: [], udp: [] };
const reading: Record<Protocol, boolean> = { tcp: false, udp: false };

function lookUp(protocol: Protocol, keysFor: (family: 'v4' | 'v6') => string[]): Promise<number | undefined> {
  return new Promise((answer) => {
    queued[protocol].push({ keys: { v4: keysFor('v4'), v6: keysFor('v6') }, uids: new Set(), answer });
    if (!reading[protocol]) void drain(protocol);
  });
}

/** Reads the tables for everything queued, again while lookups arrived during the read. */
async function drain(protocol: Protocol): Promise<void> {
  reading[protocol] = true;
  try {
    while (queued[protocol].length > 0) {
      const batch = queued[protocol].splice(0);
      await scan(TABLES[protocol].v4, 'v4', batch);
      // An IPv4 client on a dual-stack socket shows up in the IPv6 table as a mapped address.
      await scan(TABLES[protocol].v6, 'v6', batch.filter((lookup) => lookup.uids.size === 0));
      // Two owners of one end (port sharing across users) is no answer either.
      for (const lookup of batch) lookup.answer(lookup.uids.size === 1 ? [...lookup.uids][0] : undefined);
    }
  } finally {
    reading[protocol] = false;
  }
}

async function scan(table: string, family: 'v4' | 'v6', batch: Lookup[]): Promise<void> {
  const wanted = new Map<string, Lookup[]>();
  for (const lookup of batch) {
    for (const key of lookup.keys[family]) wanted.set(key, [...(wanted.get(key) ?? []), lookup]);
  }
  if (wanted.size === 0) return;
  const keyLength = [...wanted.keys()][0].length;
  const text = await readFile(table, 'latin1').catch(() => '');
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    const lineEnd = end === -1 ? text.length : end;
    // "  sl: LOCAL REMOTE …": the key is the text after the first ": ".
    const colon = text.indexOf(': ', start);
    if (colon !== -1 && colon < lineEnd) {
      const lookups = wanted.get(text.slice(colon + 2, colon + 2 + keyLength));
      if (lookups) {
        const row = parseProcNetLine(text.slice(start, lineEnd));
        // A socket with no inode (TIME_WAIT, or being torn down) has no owner any more.
        if (row && row.inode !== 0) for (const lookup of lookups) lookup.uids.add(row.uid);
      }
    }
    start = lineEnd + 1;
  }
}

/**
 * An end as the tables print it: the address as 32-bit words in host byte order, 8 hex digits
 * each, and the port in 4. An IPv4 address in the IPv6 table is IPv4-mapped; an IPv6 one has no
 * text in the IPv4 table.
 */
function endText(end: End, family: 'v4' | 'v6'): string | undefined {
  let bytes = end.bytes;
  if (family === 'v4' && bytes.length !== 4) return undefined;
  if (family === 'v6' && bytes.length === 4) bytes = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]);
  let hex = '';
  for (let word = 0; word < bytes.length; word += 4) {
    const order = LITTLE_ENDIAN ? [3, 2, 1, 0] : [0, 1, 2, 3];
    for (const i of order) hex += bytes[word + i].toString(16).padStart(2, '0');
  }
  return `${hex.toUpperCase()}:${end.port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** "0100007F:1F90" (IPv4, one host-order word) or 32 hex digits (IPv6, four host-order words) and a port. */
function parseEnd(text: string): End | undefined {
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

function toEnd(end: Endpoint): End | undefined {
  const bytes = parseIp(end.address);
  return bytes ? { bytes: unmapped(bytes), port: end.port } : undefined;
}

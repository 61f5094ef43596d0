// A typed face on the parts of `dns2` 2.x tp uses: its message codec (Packet) and its UDP and TCP
// servers. @types/dns2 describes too little of them (no rcode, no record fields), so the shapes
// tp relies on are declared here once. Also the record shapes the cluster hook returns, and their
// encoding into dns2 resources. Used by stub.ts, transport.ts, answer-cache.ts and the DNS tests.
import { createRequire } from 'node:module';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server as TcpServer, Socket } from 'node:net';

const require = createRequire(import.meta.url);

export interface WireQuestion {
  name: string;
  type: number;
  class: number;
}

export interface WireResource {
  name: string;
  type: number;
  class: number;
  ttl: number;
  [field: string]: unknown;
}

export interface WirePacket {
  header: { id: number; qr: number; opcode: number; aa: number; tc: number; rd: number; ra: number; rcode: number };
  questions: WireQuestion[];
  answers: WireResource[];
  authorities: WireResource[];
  additionals: WireResource[];
  toBuffer(): Buffer;
}

export type Send = (response: WirePacket | Buffer) => unknown;

export interface Dns2UdpServer extends UdpSocket {
  listen(port: number, address: string): Promise<void>;
  on(event: 'request', listener: (request: WirePacket, send: Send, client: { address: string; port: number }) => void): this;
  on(event: 'requestError', listener: (error: Error) => void): this;
  on(event: string, listener: (...args: never[]) => void): this;
}

export interface Dns2TcpServer extends TcpServer {
  on(event: 'request', listener: (request: WirePacket, send: Send, client: Socket) => void): this;
  on(event: 'requestError', listener: (error: Error) => void): this;
  on(event: string, listener: (...args: never[]) => void): this;
}

interface Dns2Module {
  Packet: {
    new (): WirePacket;
    parse(bytes: Buffer): WirePacket;
    createResponseFromRequest(request: WirePacket): WirePacket;
    TYPE: Record<string, number>;
    CLASS: Record<string, number>;
    RCODE: Record<string, number>;
  };
  UDPServer: new (options: { type: 'udp4' | 'udp6' }) => Dns2UdpServer;
  TCPServer: new (options?: { idleTimeout?: number }) => Dns2TcpServer;
}

export const dns2 = require('dns2') as Dns2Module;
export const Packet = dns2.Packet;

/** RFC 1035 §4.1.1 response codes. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** RFC 1035 §3.2.2 (and RFC 3596, RFC 2782) record types tp answers for cluster names. */
export const RR_TYPE = {
  A: 1,
  CNAME: 5,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
} as const;

export const CLASS_IN = 1;

/** A record as the cluster hook returns it. */
export type DnsRecord =
  | { type: 'A' | 'AAAA'; name: string; ttl: number; address: string }
  | { type: 'CNAME' | 'PTR'; name: string; ttl: number; target: string }
  | { type: 'TXT'; name: string; ttl: number; text: string[] }
  | { type: 'SRV'; name: string; ttl: number; priority: number; weight: number; port: number; target: string };

/** A type's name for the hook ('A', 'SRV', or 'TYPE65' for ones without a name). */
export function typeName(type: number): string {
  const entry = Object.entries(Packet.TYPE).find(([, value]) => value === type);
  return entry ? entry[0] : `TYPE${type}`;
}

/** The dns2 resource for a record, named `name` (the question as the client asked it). */
export function toWireResource(record: DnsRecord, name: string): WireResource {
  const base = { name, type: RR_TYPE[record.type], class: CLASS_IN, ttl: Math.max(0, Math.floor(record.ttl)) };
  switch (record.type) {
    case 'A':
    case 'AAAA':
      return { ...base, address: record.address };
    case 'CNAME':
    case 'PTR':
      return { ...base, domain: record.target };
    case 'TXT':
      return { ...base, data: record.text };
    case 'SRV':
      return { ...base, priority: record.priority, weight: record.weight, port: record.port, target: record.target };
  }
}

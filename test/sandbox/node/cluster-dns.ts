// The cluster DNS server (UDP and TCP, dns2's server): cluster names are answered from a snapshot
// of the API (cluster-records.ts), everything else is forwarded over UDP to the resolvers in
// /etc/resolv.conf. A forward that fails or times out answers SERVFAIL quickly (the sandbox has
// no internet, so this is the common case). Leaves out caching, DNSSEC and recursion of its own.
// Used by the node agent.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import dns2 from 'dns2';
import debug from 'debug';
import { answerClusterQuery, RECORD_TTL_SECONDS, type ClusterRecord, type ClusterSnapshot, type RecordType } from './cluster-records.js';

const log = debug('tp:sandbox:dns');
const { Packet } = dns2;
const TYPE = Packet.TYPE;
const CLASS_IN = Packet.CLASS.IN;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const; // RFC 1035 §4.1.1
export const DEFAULT_FORWARD_TIMEOUT_MS = 1500;

interface Question { name: string; type: number; class: number }
interface Message {
  header: { id: number; rcode: number; aa: number; ra: number };
  questions: Question[];
  answers: object[];
  toBuffer(): Buffer;
}
type Send = (response: Message | Buffer) => void;

export interface ClusterDnsOptions {
  address: string;
  port: number;
  snapshot: ClusterSnapshot;
  /** Upstream resolvers; default: the nameservers in /etc/resolv.conf. */
  upstreams?: string[];
  forwardTimeoutMs?: number;
}

export interface ClusterDns { close(): Promise<void> }

export async function startClusterDns(options: ClusterDnsOptions): Promise<ClusterDns> {
  const upstreams = options.upstreams ?? readResolvConf();
  const timeoutMs = options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: ((request: Message, send: Send) => {
      void answer(request, options.snapshot, upstreams, timeoutMs).then(send, (error: unknown) => {
        log('!! %s', error);
        send(reply(request, RCODE.SERVFAIL));
      });
    }) as unknown as Parameters<typeof dns2.createServer>[0]['handle'],
  });
  server.on('requestError', (error: unknown) => log('!! bad request: %s', error));
  server.on('error', (error: unknown) => log('!! %s', error));
  await server.listen({ udp: { port: options.port, address: options.address }, tcp: { port: options.port, address: options.address } });
  let closing: Promise<void> | undefined;
  return { close: () => (closing ??= server.close()) };
}

async function answer(request: Message, snapshot: ClusterSnapshot, upstreams: string[], timeoutMs: number): Promise<Message | Buffer> {
  const question = request.questions[0];
  if (!question) return reply(request, RCODE.SERVFAIL);
  const found = answerClusterQuery(snapshot, question.name, recordType(question.type));
  if (found === undefined) return forward(request, upstreams, timeoutMs);
  log('<- %s %s: %s (%d)', question.name, question.type, found.rcode, found.records.length);
  const response = reply(request, RCODE[found.rcode]);
  response.header.aa = 1;
  response.answers = found.records.map((record) => resource(question.name, record));
  return response;
}

function recordType(type: number): RecordType {
  switch (type) {
    case TYPE.A: return 'A';
    case TYPE.AAAA: return 'AAAA';
    case TYPE.SRV: return 'SRV';
    case TYPE.PTR: return 'PTR';
    default: return 'OTHER';
  }
}

function resource(name: string, record: ClusterRecord): object {
  const base = { name, class: CLASS_IN, ttl: RECORD_TTL_SECONDS };
  switch (record.type) {
    case 'A': return { ...base, type: TYPE.A, address: record.address };
    case 'SRV': return { ...base, type: TYPE.SRV, priority: record.priority, weight: record.weight, port: record.port, target: record.target };
    case 'PTR': return { ...base, type: TYPE.PTR, domain: record.domain };
  }
}

function reply(request: Message, rcode: number): Message {
  const response = Packet.createResponseFromRequest(request as never) as unknown as Message;
  response.header.rcode = rcode;
  response.header.ra = 1;
  return response;
}

/** Sends the query to each upstream in turn; SERVFAIL when none answers within the timeout. */
async function forward(request: Message, upstreams: string[], timeoutMs: number): Promise<Message | Buffer> {
  const query = request.toBuffer();
  const deadline = Date.now() + timeoutMs;
  for (const upstream of upstreams) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await udpExchange(query, upstream, left);
    } catch (error) {
      log('!! forward %s to %s: %s', request.questions[0]?.name, upstream, (error as Error).message);
    }
  }
  return reply(request, RCODE.SERVFAIL);
}

function udpExchange(query: Buffer, upstream: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(upstream.includes(':') ? 'udp6' : 'udp4');
    const done = (error: Error | undefined, data?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(data!);
    };
    const timer = setTimeout(() => done(new Error('timed out')), timeoutMs);
    socket.on('error', (error) => done(error));
    socket.on('message', (data) => {
      if (data.length >= 2 && data.readUInt16BE(0) === query.readUInt16BE(0)) done(undefined, data);
    });
    socket.send(query, 53, upstream, (error) => { if (error) done(error); });
  });
}

export function readResolvConf(file = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n')
      .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
      .filter((ip): ip is string => Boolean(ip));
  } catch {
    return [];
  }
}

// The laptop's DNS stub, on 127.0.0.1 over UDP and TCP (the same port for both; transport.ts),
// with dns2's codec for messages. A question about a cluster name (routing.ts decides, so `web`,
// `web.ns` and `*.cluster.local` all count) or a reverse name inside a cluster CIDR is answered
// through the `resolveCluster` hook (the daemon asks the manager over the tunnel), cached by
// answer-cache.ts; every other question is forwarded to the system resolvers and their answer
// relayed unchanged (forwarder.ts). Answers to short names carry the name as asked, so `dig web`
// works. A hook that fails or is slow gives SERVFAIL quickly; a query we cannot read gives
// FORMERR (message-check.ts runs before dns2 parses anything); a packet too short to be DNS, or a
// response, is dropped. The server lives on.
// Leaves out DNSSEC, zone transfers and EDNS options (dropped on forwarded questions).
//
// dns2 2.4's servers are not used: its DNSServer.listen() with port 0 binds TCP to every
// interface (it passes `{port: 0, address}` to net.Server.listen, which reads `host`), and both
// its UDP and TCP servers run Packet.parse on untrusted bytes first (see message-check.ts).
import { logger, type Logger } from '../log/logger.js';
import { formatIp, parseIp } from '../net/cidr.js';
import { createRoutingTable, decideRoute, normalizeHost, type RouteDecision, type RouteTarget, type RoutingTable } from '../proxy/routing.js';
import { AnswerCache, type AnswerCacheOptions, type ClusterAnswer } from './answer-cache.js';
import { Packet, RCODE, toWireResource, typeName, type WirePacket } from './dns2-wire.js';
import { forwardQuery, systemResolvers, type Resolver } from './forwarder.js';
import { checkQuery, formerrReply } from './message-check.js';
import type { OwnerGate } from '../proxy/owner-gate.js';
import { DnsListeners, type DnsAddresses, type DnsLimits } from './transport.js';

const log = logger('tp:dns');

/** Answers a question about a cluster name (fully qualified, no trailing dot) or reverse name. */
export type ResolveCluster = (name: string, type: string) => Promise<ClusterAnswer>;

export interface DnsStubOptions {
  resolveCluster: ResolveCluster;
  /** The routing table, read on every question (it changes when the manager learns CIDRs). */
  routingTable?: () => RoutingTable;
  /** Where other questions go. Default: the nameservers in /etc/resolv.conf. */
  resolvers?: readonly Resolver[];
  host?: string;
  /** Default 0: the system picks, the same port for UDP and TCP. */
  port?: number;
  /** SERVFAIL when the cluster hook has not answered by then. Default 3 s. */
  clusterTimeoutMs?: number;
  /** Per forwarded resolver. Default 2 s. */
  forwardTimeoutMs?: number;
  cache?: AnswerCacheOptions;
  closeTimeoutMs?: number;
  /** Deadlines and caps of the sockets; each defaults to its limits.ts constant. */
  limits?: DnsLimits;
  /** Who may ask (owner-gate.ts); others get REFUSED. Default: everyone. */
  gate?: OwnerGate;
}

export type DnsStubAddresses = DnsAddresses;

export const DEFAULT_CLUSTER_TIMEOUT_MS = 3_000;
export const DEFAULT_FORWARD_TIMEOUT_MS = 2_000;
/** RFC 1035 §4.2.1: the UDP payload without EDNS; RFC 6891 §6.2.5 lets a client offer more. */
const CLASSIC_UDP_BYTES = 512;
const MAX_UDP_BYTES = 4096;
const EDNS_OPT_TYPE = 41;

/** The address a reverse name (in-addr.arpa / ip6.arpa) stands for, if it is one. */
export function reverseNameAddress(name: string): Uint8Array | undefined {
  const lower = normalizeHost(name);
  if (lower.endsWith('.in-addr.arpa')) {
    const parts = lower.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4) return undefined;
    return parseIp(parts.reverse().join('.'));
  }
  if (lower.endsWith('.ip6.arpa')) {
    const nibbles = lower.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    return parseIp(hex.match(/.{4}/g)!.join(':'));
  }
  return undefined;
}

/** The most bytes an answer over UDP may have: 512, or what the query's EDNS record offers (up to 4096). Also Docker mode's host stub (src/docker/dns-door.ts). */
export function udpAnswerLimit(request: WirePacket): number {
  const opt = request.additionals.find((record) => record.type === EDNS_OPT_TYPE);
  return opt ? Math.min(MAX_UDP_BYTES, Math.max(CLASSIC_UDP_BYTES, opt.class)) : CLASSIC_UDP_BYTES;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A query from outside, checked (message-check.ts) before dns2 parses it: the parsed request, or
 * the reply to send instead (FORMERR, or nothing for bytes not worth an answer), logged as `who`.
 * Shared by every stub that takes questions from local programs.
 */
export function readQuery(query: Buffer, who: string, log: Logger): { request: WirePacket } | { reply: Buffer | undefined } {
  const check = checkQuery(query);
  if (!check.ok) {
    log.info('!! %s: %s', who, check.why);
    return { reply: check.reply === 'formerr' ? formerrReply(query) : undefined };
  }
  try {
    return { request: Packet.parse(query) };
  } catch (error) {
    log.info('!! %s unreadable query: %s', who, (error as Error).message);
    return { reply: formerrReply(query) };
  }
}

export class DnsStub {
  private readonly options: DnsStubOptions;
  private readonly cache: AnswerCache;
  private readonly routingTable: () => RoutingTable;
  private readonly resolvers: readonly Resolver[];
  private readonly listeners: DnsListeners;
  private nextId = 1;

  constructor(options: DnsStubOptions) {
    this.options = options;
    this.cache = new AnswerCache(options.cache);
    const defaultTable = createRoutingTable();
    this.routingTable = options.routingTable ?? (() => defaultTable);
    this.resolvers = options.resolvers ?? systemResolvers();
    this.listeners = new DnsListeners((query, transport, client) => this.handle(query, transport, client), options.limits, options.gate);
  }

  /** Binds UDP and TCP on the same port; resolves with both addresses. */
  async listen(): Promise<DnsStubAddresses> {
    const addresses = await this.listeners.listen(this.options.host ?? '127.0.0.1', this.options.port ?? 0);
    log.info('listening on %s:%d (udp and tcp)', addresses.udp.address, addresses.udp.port);
    return addresses;
  }

  /** Stops accepting, lets TCP connections finish, destroys them after the timeout. */
  close(): Promise<void> {
    return this.listeners.close(this.options.closeTimeoutMs ?? 2_000);
  }

  destroy(): Promise<void> {
    return this.listeners.destroy();
  }

  private async handle(query: Buffer, transport: 'udp' | 'tcp', client: string): Promise<Buffer | undefined> {
    const id = `d${this.nextId++}`;
    const read = readQuery(query, `${id} ${transport} ${client}`, log);
    if (!('request' in read)) return read.reply;
    const { request } = read;
    let response: WirePacket | Buffer;
    try {
      response = await this.respond(request, transport, id, client);
    } catch (error) {
      log.info('!! %s %s', id, (error as Error).message);
      response = this.reply(request, RCODE.SERVFAIL);
    }
    if (Buffer.isBuffer(response)) return response;
    return transport === 'udp' ? this.fitUdp(request, response) : response.toBuffer();
  }

  /** RFC 1035 §4.2.1, RFC 2181 §9: an answer too big for the client's UDP size keeps only the question, with TC set. */
  private fitUdp(request: WirePacket, response: WirePacket): Buffer {
    const bytes = response.toBuffer();
    if (bytes.length <= udpAnswerLimit(request)) return bytes;
    response.answers = [];
    response.header.tc = 1;
    return response.toBuffer();
  }

  private reply(request: WirePacket, rcode: number): WirePacket {
    const response = Packet.createResponseFromRequest(request);
    response.header.ra = 1;
    response.header.rcode = rcode;
    return response;
  }

  private async respond(request: WirePacket, transport: 'udp' | 'tcp', id: string, client: string): Promise<WirePacket | Buffer> {
    const question = request.questions[0];
    if (request.header.opcode !== 0) return this.reply(request, RCODE.NOTIMP);
    if (request.questions.length !== 1 || !question || typeof question.name !== 'string') return this.reply(request, RCODE.FORMERR);
    const type = typeName(question.type);
    const table = this.routingTable();
    const { decision, clusterName } = routeQuestion(question.name, table);
    log('-> %s %s %s %s %s via %s (%s)', id, client, transport, type, question.name, decision.via, decision.reason);
    if (decision.via === 'direct') {
      const response = await forwardQuery(request.toBuffer(), this.resolvers, {
        transport,
        timeoutMs: this.options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS,
      });
      log('<- %s forwarded (%d bytes)', id, response.length);
      return response;
    }
    const { answer, cached } = await this.cache.get(clusterName, type, () =>
      withTimeout(this.options.resolveCluster(clusterName, type), this.options.clusterTimeoutMs ?? DEFAULT_CLUSTER_TIMEOUT_MS, 'the cluster'),
    );
    log('<- %s rcode %d, %d answers%s', id, answer.rcode, answer.answers.length, cached ? ' (cached)' : '');
    const response = this.reply(request, answer.rcode);
    response.header.aa = 1;
    const asked = normalizeHost(question.name);
    response.answers = answer.answers.map((record) => toWireResource(record, normalizeHost(record.name) === clusterName ? asked : record.name));
    return response;
  }
}

/** Routes a question's name, reverse names by the address they stand for; with the fully qualified name to ask the cluster. Also Docker mode's host stub (src/docker/dns-door.ts). */
export function routeQuestion(name: string, table: RoutingTable): { decision: RouteDecision; clusterName: string } {
  const reverse = reverseNameAddress(name);
  if (reverse) {
    const target: RouteTarget = { host: formatIp(reverse) };
    return { decision: decideRoute(target, table), clusterName: normalizeHost(name) };
  }
  const decision = decideRoute({ host: name }, table);
  return { decision, clusterName: normalizeHost(decision.via === 'cluster' ? decision.clusterHost : name) };
}

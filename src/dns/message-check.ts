// A bounded check of a DNS query's raw bytes before dns2 parses it, and the FORMERR reply for
// one that fails. dns2 2.4's Packet.parse trusts the header's counts: a 16-byte packet claiming
// 65,535 questions takes it over a second of CPU (measured: 1.6 s) and "succeeds", so a few such
// packets would stall the stub. Here every count and label length is checked against the bytes
// actually present, in one pass with no allocation. Leaves out everything past the question
// (EDNS and TSIG records are left to dns2, their count capped). Also the TCP framing every
// stub, forwarder and hand-over shares.
/** RFC 1035 §4.1.1 header size. */
export const HEADER_BYTES = 12;
/** RFC 1035 §2.3.4 limits. */
export const MAX_NAME_BYTES = 255;
export const MAX_LABEL_BYTES = 63;
/** A query carries at most an OPT (RFC 6891) and a TSIG (RFC 8945) record. */
export const MAX_QUERY_ADDITIONALS = 2;
/** The smallest resource record: root name, type, class, TTL, RDLENGTH. */
const MIN_RECORD_BYTES = 11;

export type CheckResult = { ok: true } | { ok: false; reply: 'formerr' | 'drop'; why: string };

/** Whether `bytes` is a well-formed standard query with one uncompressed question. */
export function checkQuery(bytes: Buffer): CheckResult {
  if (bytes.length < HEADER_BYTES) return { ok: false, reply: 'drop', why: `${bytes.length} bytes is shorter than a DNS header` };
  const flags = bytes.readUInt16BE(2);
  // A response (QR set) is never answered: that is how reflection loops start.
  if (flags & 0x8000) return { ok: false, reply: 'drop', why: 'the packet is a response, not a query' };
  const [questions, answers, authorities, additionals] = [4, 6, 8, 10].map((at) => bytes.readUInt16BE(at));
  if (questions !== 1) return { ok: false, reply: 'formerr', why: `a query must ask exactly one question, this one asks ${questions}` };
  if (answers !== 0 || authorities !== 0 || additionals > MAX_QUERY_ADDITIONALS) {
    return { ok: false, reply: 'formerr', why: 'a query carries no answers or authorities and at most two additional records' };
  }
  let at = HEADER_BYTES;
  // RFC 1035 §2.3.4 counts the root label's zero byte too.
  let nameBytes = 1;
  for (;;) {
    if (at >= bytes.length) return { ok: false, reply: 'formerr', why: 'the question name runs past the end of the packet' };
    const size = bytes[at];
    if (size === 0) break;
    if (size > MAX_LABEL_BYTES) return { ok: false, reply: 'formerr', why: 'the question name is compressed or has a label longer than 63 bytes' };
    nameBytes += size + 1;
    if (nameBytes > MAX_NAME_BYTES) return { ok: false, reply: 'formerr', why: 'the question name is longer than 255 bytes' };
    at += size + 1;
  }
  at += 1 + 4;
  if (at > bytes.length) return { ok: false, reply: 'formerr', why: 'the question has no type and class' };
  if (bytes.length - at < additionals * MIN_RECORD_BYTES) return { ok: false, reply: 'formerr', why: 'the additional records do not fit the packet' };
  return { ok: true };
}

/** A FORMERR reply built from the query's header alone (RFC 1035 §4.1.1), with no sections. */
export function formerrReply(query: Buffer): Buffer {
  const reply = Buffer.alloc(HEADER_BYTES);
  query.copy(reply, 0, 0, 2);
  const opcodeAndRd = query.readUInt16BE(2) & 0x7900;
  reply.writeUInt16BE(0x8000 | opcodeAndRd | 0x0080 | 1, 2);
  return reply;
}

/**
 * A reply with `rcode` that repeats the query's question, as resolvers match answers on it
 * (glibc ignores one without it), built from the bytes alone; undefined for a query checkQuery
 * rejects. For answers that must not cost a parse (the stub over its cap).
 */
export function rcodeReply(query: Buffer, rcode: number): Buffer | undefined {
  if (!checkQuery(query).ok) return undefined;
  let at = HEADER_BYTES;
  while (query[at] !== 0) at += query[at] + 1;
  const reply = Buffer.from(query.subarray(0, at + 1 + 4));
  const opcodeAndRd = query.readUInt16BE(2) & 0x7900;
  reply.writeUInt16BE(0x8000 | opcodeAndRd | 0x0080 | rcode, 2);
  reply.writeUInt16BE(1, 4);
  reply.writeUInt32BE(0, 6);
  reply.writeUInt16BE(0, 10);
  return reply;
}

/**
 * RFC 2181 §9: an answer too big for UDP cut to the query's question, with the answer's header and
 * TC set, built from the bytes alone (Docker mode's host stub relays answers it does not parse);
 * undefined for a query checkQuery rejects or an answer shorter than a header.
 */
export function truncatedReply(query: Buffer, answer: Buffer): Buffer | undefined {
  const reply = rcodeReply(query, 0);
  if (!reply || answer.length < HEADER_BYTES) return undefined;
  reply.writeUInt16BE(answer.readUInt16BE(2) | 0x0200, 2);
  return reply;
}

/** RFC 1035 §4.2.2: over TCP each message is preceded by its 16-bit length. */
export function withTcpLength(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}

/**
 * The first whole TCP-framed message in `buffered` (a view, not a copy) and the bytes after it;
 * undefined while it has not all arrived. The 16-bit length bounds what a reader keeps.
 */
export function takeTcpMessage(buffered: Buffer): { message: Buffer; rest: Buffer } | undefined {
  if (buffered.length < 2) return undefined;
  const end = 2 + buffered.readUInt16BE(0);
  return buffered.length < end ? undefined : { message: buffered.subarray(2, end), rest: buffered.subarray(end) };
}

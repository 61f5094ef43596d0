// Fuzz target: the DNS stub's handling of a query's raw bytes (src/dns/message-check.ts, then
// dns2's Packet.parse through src/dns/dns2-wire.ts, as stub.ts does). Any local program can send
// these over UDP or TCP. Contract: checkQuery never throws; a query it refuses with FORMERR gets
// a 12-byte reply with the same id, QR set and rcode 1; a query it passes parses into exactly one
// question whose name is what the bytes spell (dns2 may still throw on a malformed additional
// record, which stub.ts answers with FORMERR), and the stub's response to it can be encoded.
// Docker mode's host stub (src/docker/dns-door.ts) also cuts a too-big answer to such a query's
// question (truncatedReply: the query's length, TC set, one question) within the UDP size the
// query offers (udpAnswerLimit: 512 to 4096).
import { Packet, RCODE } from '../../../src/dns/dns2-wire.js';
import { HEADER_BYTES, checkQuery, formerrReply, truncatedReply } from '../../../src/dns/message-check.js';
import { udpAnswerLimit } from '../../../src/dns/stub.js';
import { check } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/dns/message-check.ts', 'src/dns/dns2-wire.ts'];

/** The question name as checkQuery walks it: labels joined with dots, a byte per character as dns2 reads them. */
function questionName(bytes: Buffer): string {
  const labels: string[] = [];
  for (let at = HEADER_BYTES; bytes[at] !== 0; at += bytes[at] + 1) labels.push(bytes.toString('latin1', at + 1, at + 1 + bytes[at]));
  return labels.join('.');
}

export function fuzz(data: Buffer): void {
  const result = checkQuery(data);
  if (!result.ok) {
    check(result.why.length > 0, 'a refusal says why');
    if (result.reply === 'drop') return;
    const reply = formerrReply(data);
    check(reply.length === HEADER_BYTES && reply.readUInt16BE(0) === data.readUInt16BE(0), 'FORMERR header');
    check((reply[2] & 0x80) !== 0 && (reply[3] & 0x0f) === RCODE.FORMERR, 'FORMERR flags');
    return;
  }
  let request;
  try {
    request = Packet.parse(data);
  } catch {
    return;
  }
  check(request.questions.length === 1, `${request.questions.length} questions`);
  check(request.questions[0].name === questionName(data), `question ${JSON.stringify(request.questions[0].name)}`);
  const response = Packet.createResponseFromRequest(request);
  response.header.rcode = RCODE.NXDOMAIN;
  const answer = response.toBuffer();
  check(Buffer.isBuffer(answer), 'the response encodes');
  const limit = udpAnswerLimit(request);
  check(limit >= 512 && limit <= 4096, `UDP limit ${limit}`);
  const cut = truncatedReply(data, answer);
  check(cut !== undefined && cut.readUInt16BE(0) === data.readUInt16BE(0) && (cut[2] & 0x02) !== 0 && cut.readUInt16BE(4) === 1 && cut.readUInt16BE(6) === 0, 'the cut answer: same id, TC, one question, no answers');
}

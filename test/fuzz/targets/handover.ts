// Fuzz target: the `tp run` hand-over datagram (parseHandover in src/run/daemon/redirect-listener.ts),
// which any local process can send to the daemon's UDP socket. The seeds carry the token below so
// that mutations reach past the token check. Contract: parseHandover returns a hand-over or throws
// HandoverError; a datagram over MAX_HANDOVER_BYTES is never read; a returned hand-over has ports
// 1-65535 and a host of printable ASCII, and encodes back to a datagram that parses the same.
import { deepStrictEqual } from 'node:assert';
import { HandoverError, MAX_HANDOVER_BYTES, encodeHandover, parseHandover } from '../../../src/run/daemon/redirect-listener.js';
import { check, expectTyped } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/run/daemon/redirect-listener.ts'];

export const TOKEN = '00112233445566778899aabbccddeeff';

export function fuzz(data: Buffer): void {
  let handover;
  try {
    handover = parseHandover(data, TOKEN);
  } catch (error) {
    expectTyped(error, (e) => e instanceof HandoverError, 'parseHandover');
    return;
  }
  check(data.length <= MAX_HANDOVER_BYTES, `a ${data.length}-byte hand-over was read`);
  const { laptopPort, target } = handover;
  check(Number.isInteger(laptopPort) && laptopPort >= 1 && laptopPort <= 65535, `laptop port ${laptopPort}`);
  check(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535, `target port ${target.port}`);
  check(/^[\x21-\x7e]+$/.test(target.host), `target host ${JSON.stringify(target.host)}`);
  deepStrictEqual(parseHandover(encodeHandover(TOKEN, handover), TOKEN), handover);
}

// Fuzz target: the `tp run` hand-over datagram (parseHandover in src/daemon/redirect-listener.ts),
// which any local process can send to the daemon's UDP socket. The seeds carry the token below so
// that mutations reach past the token check. Contract: parseHandover returns a hand-over or throws
// HandoverError; a returned one has ports 1-65535 and a non-empty host without spaces or control
// characters, and encodes back to a datagram that parses the same.
import { deepStrictEqual } from 'node:assert';
import { HandoverError, encodeHandover, parseHandover } from '../../../src/daemon/redirect-listener.js';
import { check, expectTyped } from '../contract.js';

export const TOKEN = '00112233445566778899aabbccddeeff';

export function fuzz(data: Buffer): void {
  let handover;
  try {
    handover = parseHandover(data, TOKEN);
  } catch (error) {
    expectTyped(error, (e) => e instanceof HandoverError, 'parseHandover');
    return;
  }
  const { laptopPort, target } = handover;
  check(Number.isInteger(laptopPort) && laptopPort >= 1 && laptopPort <= 65535, `laptop port ${laptopPort}`);
  check(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535, `target port ${target.port}`);
  // eslint-disable-next-line no-control-regex
  check(target.host.length > 0 && !/[\s\x00-\x1f\x7f]/.test(target.host), `target host ${JSON.stringify(target.host)}`);
  deepStrictEqual(parseHandover(encodeHandover(TOKEN, handover), TOKEN), handover);
}

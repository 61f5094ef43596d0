// Fuzz target: the daemon's control-socket line protocol (src/daemon/control-protocol.ts): the
// line splitter that reads the socket and the parse of each line into a request. Input: one seed
// byte choosing how the rest is split into reads, then the bytes. Contract: the lines are the
// same however the bytes were split (a character cut between two reads included) and are the
// UTF-8 text between newlines; the parse of a line returns a request with a numeric id and a
// string method, or undefined, and never throws.
import { deepStrictEqual } from 'node:assert';
import { MAX_CONTROL_LINE_BYTES, lineSplitter, parseControlRequest } from '../../../src/daemon/control-protocol.js';
import { check, chunks } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/daemon/control-protocol.ts'];

function split(parts: Buffer[]): { lines: string[]; overflowed: boolean } {
  const lines: string[] = [];
  let overflowed = false;
  const feed = lineSplitter(
    (line) => lines.push(line),
    () => {
      check(!overflowed, 'onOverflow called twice');
      overflowed = true;
    },
  );
  for (const part of parts) feed(part);
  return { lines, overflowed };
}

export function fuzz(data: Buffer): void {
  const bytes = data.subarray(1);
  const whole = split([bytes]);
  // Fuzz inputs are far below the line limit, so nothing may overflow.
  check(bytes.length > MAX_CONTROL_LINE_BYTES || !whole.overflowed, 'a short input overflowed');
  const expected = bytes
    .toString('utf8')
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.trim() !== '');
  deepStrictEqual(whole.lines, expected);
  deepStrictEqual(split(chunks(bytes, data[0] ?? 0)).lines, expected);
  for (const line of expected) {
    const request = parseControlRequest(line);
    if (request === undefined) continue;
    check(typeof request.id === 'number' && typeof request.method === 'string', `parsed ${JSON.stringify(request)}`);
  }
}

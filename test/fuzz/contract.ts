// What every fuzz target asserts besides its parser's own rules: a parser given hostile bytes
// either returns a result or throws the error type it documents. Anything else (a TypeError from
// reading past a buffer, a RangeError from an allocation) is rethrown, which is a crash to the
// fuzzer. Shared by the targets in targets/ and by corpus.test.ts.

/** Returns normally when `error` is the documented one; otherwise throws it (or says why not). */
export function expectTyped(error: unknown, expected: (error: Error) => boolean, what: string): void {
  if (error instanceof Error && expected(error)) return;
  if (error instanceof Error) throw error;
  throw new Error(`${what} threw a non-Error: ${String(error)}`);
}

/** A check the target makes on a parser's result; a false one is a finding. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`contract broken: ${message}`);
}

/**
 * Cuts `bytes` into chunks whose sizes come from `seed`, so the fuzzer also explores where reads
 * split a message (1 to 16 bytes each, or the whole buffer when seed is 0).
 */
export function chunks(bytes: Buffer, seed: number): Buffer[] {
  if (seed === 0) return [bytes];
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = 1 + ((seed * (i + 1)) % 16);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { growingPercentFor, HEADROOM_BYTES, MAX_GROWING_PERCENT } from '../../src/tunnel/heap-growth.js';

const MB = 1024 * 1024;
const heapGrowth = fileURLToPath(new URL('../../src/tunnel/heap-growth.ts', import.meta.url));

/**
 * V8's own account of the old generation's limit after the last full collection, in a fresh Node
 * process that holds `retainMiB` MiB of objects (arrays of 128 Ki doubles, on the heap) made before
 * or after it called growHeapForRelaying() and ran a first full collection
 * (--trace-gc-verbose prints "[HeapController] Limit: old size: N KB, new limit: M KB" at every full collection).
 */
async function limitAfterFullCollections(retainMiB: number, retainAfterStart = false): Promise<{ oldBytes: number; limitBytes: number }> {
  const retain = `globalThis.kept = Array.from({ length: ${retainMiB} }, () => Array.from({ length: 128 * 1024 }, (_, i) => i + 0.5));`;
  const script = `
    const { growHeapForRelaying } = await import(${JSON.stringify(heapGrowth)});
    ${retainAfterStart ? '' : retain}
    growHeapForRelaying();
    gc();
    ${retainAfterStart ? retain : ''}
    gc();`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--trace-gc-verbose', '--import', 'tsx', '--input-type=module', '-e', script], { maxBuffer: 16 * MB });
  // One line for the V8 heap's controller ([HeapController]) and one for the global one, which also counts embedder memory.
  const limits = [...stdout.matchAll(/\[(?!Global)\w+\] Limit: old size: (\d+) KB, new limit: (\d+) KB/g)];
  if (limits.length === 0) throw new Error(`no limit in V8's trace:\n${stdout.slice(-2000)}`);
  const [, oldKb, limitKb] = limits.at(-1)!;
  return { oldBytes: Number(oldKb) * 1024, limitBytes: Number(limitKb) * 1024 };
}

test('the headroom is HEADROOM_BYTES where a factor of 2 to 4 allows it', (t) => {
  for (const live of [1 * MB, 10 * MB, 22 * MB, 40 * MB, 64 * MB, 300 * MB]) {
    const factor = 1 + growingPercentFor(live) / 100;
    t.true(factor >= 2 && factor <= 4, `${live / MB} MB live: factor ${factor}`);
    t.true((factor - 1) * live >= Math.min(HEADROOM_BYTES, (MAX_GROWING_PERCENT / 100) * live), `${live / MB} MB live: factor ${factor}`);
  }
  t.is(growingPercentFor(10 * MB), MAX_GROWING_PERCENT, 'a 10 MB heap (the traffic-agent) gets the largest factor');
  t.is(growingPercentFor(300 * MB), 100, 'a factor of 2 for heaps over the headroom');
});

test('a relaying process with a small heap (the traffic-agent) gets more than a factor of 2 from V8', async (t) => {
  const { oldBytes, limitBytes } = await limitAfterFullCollections(0);
  t.true(oldBytes < 16 * MB, `a small heap to start with (${oldBytes / MB} MB)`);
  t.true(limitBytes >= 3.9 * oldBytes, `limit ${(limitBytes / MB).toFixed(1)} MB for ${(oldBytes / MB).toFixed(1)} MB live`);
});

test('a heap that grew after the percent was set gets no more than the largest factor V8 picks itself', async (t) => {
  // Set for a small heap, then 160 MiB more before the next collection: the percent lags, the cap holds.
  const { oldBytes, limitBytes } = await limitAfterFullCollections(160, true);
  t.true(oldBytes > 150 * MB, `a grown heap (${oldBytes / MB} MB)`);
  // V8 adds the young generation's capacity (16 MiB here) to the limit it computes.
  t.true(limitBytes <= 4 * oldBytes + 32 * MB, `limit ${(limitBytes / MB).toFixed(1)} MB for ${(oldBytes / MB).toFixed(1)} MB live`);
});

test('a relaying process with a large heap keeps a factor of 2 and no more', async (t) => {
  const { oldBytes, limitBytes } = await limitAfterFullCollections(96);
  t.true(oldBytes > HEADROOM_BYTES, `a large heap (${oldBytes / MB} MB)`);
  t.true(limitBytes >= 2 * oldBytes, `limit ${limitBytes / MB} MB for ${oldBytes / MB} MB live`);
  t.true(limitBytes < 2.5 * oldBytes, `limit ${limitBytes / MB} MB for ${oldBytes / MB} MB live`);
});

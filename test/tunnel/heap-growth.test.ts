import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { growingPercentFor, HEADROOM_BYTES } from '../../src/tunnel/heap-growth.js';

const MB = 1024 * 1024;
const heapGrowth = fileURLToPath(new URL('../../src/tunnel/heap-growth.ts', import.meta.url));

/**
 * V8's own account of the old generation's limit after the last of two full collections, in a
 * fresh Node process that called growHeapForRelaying() and holds `retainMiB` MiB of objects (arrays of 128 Ki doubles, on the heap)
 * (--trace-gc-verbose prints "[HeapController] Limit: old size: N KB, new limit: M KB" at every full collection).
 */
async function limitAfterFullCollections(retainMiB: number): Promise<{ oldBytes: number; limitBytes: number }> {
  const script = `
    const { growHeapForRelaying } = await import(${JSON.stringify(heapGrowth)});
    globalThis.kept = Array.from({ length: ${retainMiB} }, () => Array.from({ length: 128 * 1024 }, (_, i) => i + 0.5));
    growHeapForRelaying();
    gc();
    // The percent is set again once the collection's performance entry reaches its observer.
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--trace-gc-verbose', '--import', 'tsx', '--input-type=module', '-e', script], { maxBuffer: 16 * MB });
  // One line for the V8 heap's controller ([HeapController]) and one for the global one, which also counts embedder memory.
  const limits = [...stdout.matchAll(/\[(?!Global)\w+\] Limit: old size: (\d+) KB, new limit: (\d+) KB/g)];
  if (limits.length === 0) throw new Error(`no limit in V8's trace:\n${stdout.slice(-2000)}`);
  const [, oldKb, limitKb] = limits.at(-1)!;
  return { oldBytes: Number(oldKb) * 1024, limitBytes: Number(limitKb) * 1024 };
}

test('a small live heap gets at least HEADROOM_BYTES of headroom, a large one at least its own size', (t) => {
  for (const live of [1 * MB, 10 * MB, 40 * MB, 64 * MB, 300 * MB]) {
    const headroom = (live * growingPercentFor(live)) / 100;
    t.true(headroom >= Math.max(HEADROOM_BYTES, live), `${live / MB} MB live: ${headroom / MB} MB headroom`);
  }
  t.is(growingPercentFor(300 * MB), 100, 'a factor of 2 for heaps over the headroom');
});

test('a relaying process with a small heap (the traffic-agent) gets its headroom from V8, not a factor of 2', async (t) => {
  const { oldBytes, limitBytes } = await limitAfterFullCollections(0);
  t.true(oldBytes < 32 * MB, `a small heap to start with (${oldBytes / MB} MB)`);
  t.true(limitBytes - oldBytes >= HEADROOM_BYTES, `headroom ${((limitBytes - oldBytes) / MB).toFixed(1)} MB over ${(oldBytes / MB).toFixed(1)} MB live`);
});

test('a relaying process with a large heap keeps a factor of 2 and no more', async (t) => {
  const { oldBytes, limitBytes } = await limitAfterFullCollections(96);
  t.true(oldBytes > HEADROOM_BYTES, `a large heap (${oldBytes / MB} MB)`);
  t.true(limitBytes >= 2 * oldBytes, `limit ${limitBytes / MB} MB for ${oldBytes / MB} MB live`);
  t.true(limitBytes < 2.5 * oldBytes, `limit ${limitBytes / MB} MB for ${oldBytes / MB} MB live`);
});

// V8's old-generation growth for a process that relays tunnel bytes (the daemon, the manager, the
// agent). Every chunk in flight is a Buffer that can outlive two young collections (queued behind
// a window or a slow reader) and so lands in the old generation, where only a full collection
// frees it. V8 starts a full collection when the old generation's objects plus the external
// memory (Buffers' backing stores) allocated since the last one reach a limit it sets after each
// full collection: the live heap times a growing factor, which V8 derives from its measured GC
// and program speeds, as low as 1.1 when the process is starved of CPU. So the headroom over the
// live heap decides how many megabytes of relayed bytes pass between two full collections.
// - A factor fixed at 2 (session 6) cured the daemon and the manager (live heaps of ~40 MB: 40 MB
//   of headroom): 2-4 full collections per 3 × 128 MiB intercepted echo instead of 50-60.
// - The traffic-agent's live heap is ~10 MB, so a factor of 2 left it ~11 MB (V8's smallest
//   step is 8 MB), and it ran 8-9 full collections per 64 MiB echo, about a third of its CPU.
// So the headroom is now at least HEADROOM_BYTES whatever the live heap: the percent is set from
// the old generation in use at start and again after every full collection, never below 100 (a factor of 2,
// as before, for heaps over 64 MB). V8 reads the flag at every collection. It costs at most
// max(live heap, HEADROOM_BYTES) more memory, and only when that much garbage is made.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Headroom of the old generation's limit over the live heap, at least. */
export const HEADROOM_BYTES = 64 * 1024 * 1024;
const MIN_GROWING_PERCENT = 100;
/** The percent moves in steps of this, so a heap that breathes a little does not set the flag each time. */
const PERCENT_STEP = 25;

/** V8's --heap-growing-percent that gives a live heap of `liveBytes` at least HEADROOM_BYTES of headroom and a factor of at least 2. */
export function growingPercentFor(liveBytes: number): number {
  const percent = Math.ceil(((HEADROOM_BYTES / Math.max(liveBytes, 1)) * 100) / PERCENT_STEP) * PERCENT_STEP;
  return Math.max(MIN_GROWING_PERCENT, percent);
}

let observer: PerformanceObserver | null = null;
let current = 0;

/** Sets the growth for the heap in use now and keeps it set after every full collection. Idempotent. */
export function growHeapForRelaying(): void {
  applyGrowth();
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    if (list.getEntries().some(isFullCollection)) applyGrowth();
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** The old generation in use: what V8 multiplies by the factor (not the young generation, nor the read-only snapshot). */
function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_') && space.space_name !== 'read_only_space') bytes += space.space_used_size;
  }
  return bytes;
}

/** A 'gc' entry carries the collection's kind in its detail (NodeGCPerformanceDetail), which the entry's type leaves out. */
function isFullCollection(entry: object): boolean {
  return (entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}

function applyGrowth(): void {
  const percent = growingPercentFor(oldGenerationBytes());
  if (percent === current) return;
  current = percent;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

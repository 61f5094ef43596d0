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
// So the percent now follows the live heap: enough for HEADROOM_BYTES of headroom, but never a
// factor over 4 (MAX_GROWING_PERCENT: the largest V8 picks by itself) and never under 2 (as
// before, for heaps over 64 MB). A 10 MB agent gets 30 MB of headroom (measured at a factor of 3.5:
// 8 full collections in three 64 MiB echoes instead of 26). The cap is what bounds memory: the percent is set
// from the heap as it was when last looked at (at start and then every second, on a timer that
// keeps no process alive), so a heap that grew since then is at worst given V8's own largest
// factor, its limit at most four times its live size. V8 reads the flag at every collection.
// A timer, not an observer of collections: a 'gc' observer costs an entry for every young
// collection too, and those come by the hundred per second while bytes are relayed.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Headroom of the old generation's limit over the live heap wanted, where the cap allows it. */
export const HEADROOM_BYTES = 64 * 1024 * 1024;
const MIN_GROWING_PERCENT = 100;
/** V8's largest growing factor of its own (4), as a percent over the live heap. */
export const MAX_GROWING_PERCENT = 300;
/** The percent moves in steps of this, so a heap that breathes a little does not set the flag each time. */
const PERCENT_STEP = 25;
const LOOK_EVERY_MS = 1000;

/** V8's --heap-growing-percent for a live heap of `liveBytes`: HEADROOM_BYTES of headroom within a factor of 2 to 4. */
export function growingPercentFor(liveBytes: number): number {
  const percent = Math.ceil(((HEADROOM_BYTES / Math.max(liveBytes, 1)) * 100) / PERCENT_STEP) * PERCENT_STEP;
  return Math.min(MAX_GROWING_PERCENT, Math.max(MIN_GROWING_PERCENT, percent));
}

let timer: NodeJS.Timeout | undefined;
let current = 0;

/** Sets the growth for the heap in use now and keeps it following the heap. Idempotent. */
export function growHeapForRelaying(): void {
  applyGrowth();
  timer ??= setInterval(applyGrowth, LOOK_EVERY_MS).unref();
}

/** The old generation in use: what V8 multiplies by the factor (not the young generation, nor the read-only snapshot). */
function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_') && space.space_name !== 'read_only_space') bytes += space.space_used_size;
  }
  return bytes;
}

function applyGrowth(): void {
  const percent = growingPercentFor(oldGenerationBytes());
  if (percent === current) return;
  current = percent;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

// V8's old-generation growth for a process that relays tunnel bytes (the daemon, the manager, the
// agent). Every chunk in flight is a Buffer that can outlive two young collections (queued behind
// a window or a slow reader) and so lands in the old generation; after each full collection V8
// lets the old generation grow by a factor it derives from its measured GC and program speeds,
// as low as 1.1 when the process is starved of CPU. With ~40 MB live that left ~4 MB of headroom,
// and a relaying process fell into a full collection every few MB promoted: during a 128 MiB
// intercepted echo on a loaded 2-core machine the daemon ran 50-60 full collections (1.5 s) in
// some runs and 2-4 in others, and its CPU tripled in the bad ones. A fixed factor of 2 (V8's own
// range is 1.1 to 4) keeps the headroom at the live size. V8 reads the flag at every collection,
// so setting it at start-up takes effect; it costs at most the live heap again in memory.
import { setFlagsFromString } from 'node:v8';

const HEAP_GROWING_PERCENT = 100;

export function growHeapForRelaying(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

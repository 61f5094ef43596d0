// Waits between retries that a crowd of clients may make at once (daemons reconnecting to a
// restarted API server, intercepts re-created after a manager restart): exponential from
// `firstMs`, capped at `maxMs`, jittered within [half, full] so the crowd spreads out.

/** The wait before attempt `failures + 1` (0 before the first failure). */
export function backoffDelayMs(failures: number, firstMs: number, maxMs: number, random: () => number = Math.random): number {
  if (failures <= 0) return 0;
  const ceiling = Math.min(maxMs, firstMs * 2 ** Math.min(failures - 1, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

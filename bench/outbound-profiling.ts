// BENCH_PROFILE=1 for the outbound benchmark: runs a few extra tp workloads while sampling CPU
// profiles of the tp daemon and the traffic-manager (outbound-profile.ts), keeps the
// .cpuprofile files (open them in Chrome DevTools or speedscope) and returns where the time went.
// The profiled runs are separate from the measured ones, so profiling never skews the table.
// Leaves out the sandbox's own processes (the API server is shared infrastructure). Used by
// bench/outbound.ts.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsInode } from './outbound-cpu.js';
import { InspectorProfiler, summarize, type ProfileSummary } from './outbound-profile.js';

export interface ProfileTarget {
  name: string;
  pid: number;
  /** The pod network namespace's name, when not the host's. */
  netns?: string;
}

export interface ProfiledRun {
  workload: string;
  wallSeconds: number;
  processes: Record<string, ProfileSummary & { file: string }>;
  error?: string;
}

/** The pid in the named network namespace whose command line contains `needle`. */
export function findProcessInNetns(netns: string, needle: string): number | undefined {
  const inode = netnsInode(netns);
  if (inode === undefined) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) !== `net:[${inode}]`) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle)) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** Runs `work` with every target profiled; writes <dir>/<prefix>-<target>.cpuprofile. */
export async function profiled(workload: string, targets: ProfileTarget[], dir: string, prefix: string, work: () => Promise<unknown>): Promise<ProfiledRun> {
  const run: ProfiledRun = { workload, wallSeconds: 0, processes: {} };
  const profilers: { target: ProfileTarget; profiler: InspectorProfiler }[] = [];
  try {
    for (const target of targets) profilers.push({ target, profiler: await InspectorProfiler.attach(target.pid, target.netns) });
    for (const { profiler } of profilers) await profiler.start();
    const started = performance.now();
    await work();
    run.wallSeconds = (performance.now() - started) / 1000;
    for (const { target, profiler } of profilers) {
      const profile = await profiler.stop();
      const file = join(dir, `${prefix}-${target.name.replace(/\W+/g, '-')}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      run.processes[target.name] = { ...summarize(profile), file };
    }
  } catch (error) {
    run.error = (error as Error).message;
  } finally {
    await Promise.allSettled(profilers.map(({ profiler }) => profiler.close()));
  }
  return run;
}

export function formatProfiles(runs: ProfiledRun[], top = 6): string {
  const lines: string[] = [];
  for (const run of runs) {
    lines.push(`${run.workload} (${run.wallSeconds.toFixed(1)} s${run.error ? `, failed: ${run.error}` : ''})`);
    for (const [name, summary] of Object.entries(run.processes)) {
      const busy = Math.round((summary.totalMs / 1000 / Math.max(run.wallSeconds, 0.001)) * 100);
      lines.push(`  ${name}: ${(summary.totalMs / 1000).toFixed(2)} s on CPU (${busy}% of one core)`);
      lines.push(`    by area:     ${summary.byArea.slice(0, top).map((a) => `${a.area} ${a.percent}%`).join(', ')}`);
      lines.push(`    by function: ${summary.byFunction.slice(0, top).map((f) => `${f.fn.trim()} ${f.percent}%`).join(', ')}`);
    }
  }
  return lines.join('\n');
}

// Who spent the CPU during one measurement: snapshots every process's user+system time from
// /proc before and after, and adds the difference up by role (tp daemon, manager, the sandbox's
// API server, the socat it runs into a pod for each port-forward, ssh, sshd, the load generator…).
// Roles come from a classifier the caller builds from pids it knows and from pods' network
// namespaces (/run/netns/<name> has the inode that /proc/<pid>/ns/net names). Processes that
// exited in between are counted in their parent's children time (cutime) when reaped, so they
// land in the parent's role. Everything else the machine did in between (from /proc/stat) is the
// role "other": on a machine shared with other work it shows how much noise there was. Leaves out
// threads' split. Used by outbound.ts.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ: Linux reports /proc times in 1/100 s on every architecture

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  netnsInode?: number;
}

/** role name for a process, or undefined to count it as "other". */
export type Classifier = (process: ProcessInfo) => string | undefined;

export interface CpuSnapshot {
  /** Ticks by pid, for processes with a role. */
  processes: Map<number, { role: string; ticks: number }>;
  /** Non-idle ticks of the whole machine. */
  machineBusy: number;
}

/** CPU seconds by role between two snapshots, rounded to 10 ms, largest first. */
export type CpuByRole = Record<string, number>;

export function snapshotCpu(classify: Classifier): CpuSnapshot {
  const processes: CpuSnapshot['processes'] = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      // Fields after "(comm)": state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based overall.
      const fields = stat.slice(close + 2).split(' ');
      const ppid = Number(fields[1]);
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const role = classify({ pid, ppid, comm, cmdline, netnsInode: netnsOfPid(pid) });
      if (role !== undefined) processes.set(pid, { role, ticks });
    } catch {
      // The process exited while we read it.
    }
  }
  return { processes, machineBusy: machineBusyTicks() };
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuByRole {
  const byRole = new Map<string, number>();
  let known = 0;
  for (const [pid, sample] of after.processes) {
    const delta = sample.ticks - (before.processes.get(pid)?.ticks ?? 0);
    if (delta <= 0) continue;
    byRole.set(sample.role, (byRole.get(sample.role) ?? 0) + delta);
    known += delta;
  }
  byRole.set('other', Math.max(0, after.machineBusy - before.machineBusy - known));
  return Object.fromEntries([...byRole].sort((a, b) => b[1] - a[1]).map(([role, ticks]) => [role, Math.round(ticks) / TICKS_PER_SECOND]));
}

/** /proc/stat's first line: user nice system idle iowait irq softirq steal …; busy = all but idle and iowait. */
/** Non-idle ticks of the whole machine since boot (/proc/stat). */
export function machineBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return fields.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
}

/** The inode of a named network namespace (`ip netns add` pins it under /run/netns). */
export function netnsInode(name: string): number | undefined {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

function netnsOfPid(pid: number): number | undefined {
  try {
    const match = /net:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

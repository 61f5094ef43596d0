// Who spent the CPU during one measurement: snapshots every process's user+system time from
// /proc before and after, and adds the difference up by role (tp daemon, manager, the sandbox's
// API server, the socat it runs into a pod for each port-forward, ssh, sshd, the load generator…).
// Roles come from a classifier the caller builds from pids it knows and from pods' network
// namespaces (/run/netns/<name> has the inode that /proc/<pid>/ns/net names). Processes that
// exited in between are counted in their parent's children time (cutime) when reaped, so they
// land in the parent's role. Leaves out threads' split and anything not in /proc. On a machine
// shared with other work the "other" role shows how much noise there was. Used by outbound.ts.
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

interface Sample {
  role: string;
  ticks: number;
}

export type CpuSnapshot = Map<number, Sample>;

/** CPU seconds by role between two snapshots, rounded to 10 ms, largest first. */
export type CpuByRole = Record<string, number>;

export function snapshotCpu(classify: Classifier): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
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
      const info: ProcessInfo = { pid, ppid, comm, cmdline, netnsInode: netnsOfPid(pid) };
      snapshot.set(pid, { role: classify(info) ?? 'other', ticks });
    } catch {
      // The process exited while we read it.
    }
  }
  return snapshot;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuByRole {
  const byRole = new Map<string, number>();
  for (const [pid, sample] of after) {
    const delta = sample.ticks - (before.get(pid)?.ticks ?? 0);
    if (delta > 0) byRole.set(sample.role, (byRole.get(sample.role) ?? 0) + delta);
  }
  return Object.fromEntries([...byRole].sort((a, b) => b[1] - a[1]).map(([role, ticks]) => [role, Math.round(ticks) / TICKS_PER_SECOND]));
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

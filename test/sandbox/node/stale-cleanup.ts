// Finds and removes what a crashed sandbox (or test) left behind, by name prefix: processes in our
// netns (`ip netns pids`), the netns themselves (their links, routes and nft tables go with them),
// stray host links and nft tables with the prefix, leftover /run/netns mounts, /etc/netns dirs, and
// the host's `unreachable` route once no sandbox network is left. Leaves out files in the state
// dir (the main process owns those). Used by network.ts and the sandbox's `up`/`down`.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NFT, run, tryRun } from './command.js';
import { checkPrefix, DEFAULT_PREFIX } from './names.js';

export const HOST_UNREACHABLE_CIDR = '198.18.0.0/15';
const NODE_NETNS_SUFFIX = '-node';

export async function listNetns(): Promise<string[]> {
  const out = await run(['ip', 'netns', 'list']);
  return out.split('\n').map((line) => line.split(' ')[0]).filter(Boolean);
}

export async function netnsPids(netns: string): Promise<number[]> {
  try {
    const out = await run(['ip', 'netns', 'pids', netns]);
    return out.split('\n').filter(Boolean).map(Number).filter((pid) => pid > 1 && pid !== process.pid);
  } catch {
    return [];
  }
}

/** SIGKILLs pids, then waits (bounded) until they are gone so their netns can really go. */
export async function killPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Removes the host's unreachable route unless another sandbox network (any prefix) still exists. */
export async function removeHostRouteIfUnused(): Promise<boolean> {
  if ((await listNetns()).some((name) => name.endsWith(NODE_NETNS_SUFFIX))) return false;
  const routes = await run(['ip', 'route', 'show', 'type', 'unreachable']);
  if (!routes.split('\n').some((line) => line.startsWith(`unreachable ${HOST_UNREACHABLE_CIDR}`))) return false;
  return tryRun(['ip', 'route', 'del', 'unreachable', HOST_UNREACHABLE_CIDR]);
}

export async function cleanUpStale(prefix: string = DEFAULT_PREFIX): Promise<string[]> {
  checkPrefix(prefix);
  const removed: string[] = [];
  const ours = (await listNetns()).filter((name) => name.startsWith(`${prefix}-`));
  // Pods first, the node netns last, so nothing is left holding a pod's veth.
  ours.sort((a, b) => Number(a.endsWith(NODE_NETNS_SUFFIX)) - Number(b.endsWith(NODE_NETNS_SUFFIX)));
  for (const netns of ours) {
    const pids = await netnsPids(netns);
    await killPids(pids);
    for (const pid of pids) removed.push(`process ${pid} in netns ${netns}`);
    if (await tryRun(['ip', 'netns', 'del', netns])) removed.push(`netns ${netns}`);
  }
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const mountpoint = line.split(' ')[1];
    if (mountpoint?.startsWith(`/run/netns/${prefix}-`) && (await tryRun(['umount', '-l', mountpoint]))) {
      removed.push(`mount ${mountpoint}`);
      rmSync(mountpoint, { force: true });
    }
  }
  const links = await run(['ip', '-o', 'link', 'show']);
  for (const match of links.matchAll(/^\d+: ([^:@]+)[@:]/gm)) {
    if (match[1].startsWith(prefix) && (await tryRun(['ip', 'link', 'del', match[1]]))) removed.push(`link ${match[1]}`);
  }
  const tables = await run([NFT, 'list', 'tables']).catch(() => '');
  for (const match of tables.matchAll(/^table (\w+) (\S+)$/gm)) {
    if (match[2].startsWith(prefix) && (await tryRun([NFT, 'delete', 'table', match[1], match[2]]))) removed.push(`nft table ${match[1]} ${match[2]}`);
  }
  let etcNetns: string[] = [];
  try { etcNetns = readdirSync('/etc/netns'); } catch { /* none */ }
  for (const dir of etcNetns.filter((name) => name.startsWith(`${prefix}-`))) {
    rmSync(join('/etc/netns', dir), { recursive: true, force: true });
    removed.push(`dir /etc/netns/${dir}`);
  }
  if (await removeHostRouteIfUnused()) removed.push(`route unreachable ${HOST_UNREACHABLE_CIDR}`);
  return removed;
}

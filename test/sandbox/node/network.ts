// The sandbox cluster's network (needs root; drives `ip` and `nft`). A node netns holds a bridge
// at 198.18.0.1/16 with forwarding on; each pod gets its own netns joined to the bridge by a veth
// pair (eth0 inside, hairpin on the bridge port) and the next free IP (ipam.ts). Services are
// nftables rules in the node netns (service-rules.ts), replaced atomically. The host gets no link
// into the cluster, only an `unreachable 198.18.0.0/15` route so host attempts fail at once and
// nothing leaves the machine. Leaves out IPv6, NodePorts and multiple nodes.
// Used by the sandbox main process (sandbox.ts), the kubelet (pods), kube-proxy (syncServices).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NFT, run, tryRun } from './command.js';
import { Ipam, POD_CIDR_PREFIX } from './ipam.js';
import { bridgeName, checkPrefix, DEFAULT_PREFIX, nodeNetnsName, podNetnsName, podVethName } from './names.js';
import { renderServiceRuleset, SERVICE_CIDR, serviceTableName, type ServiceRule } from './service-rules.js';
import { listNetns, netnsPids, removeHostRouteIfUnused, killPids, HOST_UNREACHABLE_CIDR } from './stale-cleanup.js';

export { cleanUpStale } from './stale-cleanup.js';
export type { ServiceRule, ServiceEndpoint, ServiceProtocol } from './service-rules.js';

export const NODE_IP = '198.18.0.1';
export const LAUNCHER = fileURLToPath(new URL('./launcher.sh', import.meta.url));

export interface NodeNetworkOptions { prefix?: string; stateDir: string }

export interface NodeNetwork {
  nodeNetns: string;
  /** The prefix every name made by this network starts with. */
  prefix: string;
  createPodNetwork(podUid: string): Promise<{ netns: string; ip: string }>;
  deletePodNetwork(podUid: string): Promise<void>;
  /** The whole desired set of service rules, applied in one nft transaction. */
  syncServices(rules: ServiceRule[]): Promise<void>;
  /** Tears down everything it made (pods' netns, the node netns, the host route); idempotent. */
  close(): Promise<void>;
}

export async function setUpNodeNetwork(options: NodeNetworkOptions): Promise<NodeNetwork> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const nodeNetns = nodeNetnsName(prefix);
  const bridge = bridgeName(prefix);
  const table = serviceTableName(prefix);
  mkdirSync(options.stateDir, { recursive: true });
  const ipam = new Ipam(join(options.stateDir, `ipam-${prefix}.json`));

  if (!(await listNetns()).includes(nodeNetns)) await run(['ip', 'netns', 'add', nodeNetns]);
  const existing = await run(['ip', '-n', nodeNetns, '-o', 'link', 'show']);
  if (!existing.includes(` ${bridge}:`)) await run(['ip', '-n', nodeNetns, 'link', 'add', bridge, 'type', 'bridge']);
  await ipBatch(nodeNetns, [
    'link set lo up',
    `address replace ${NODE_IP}/${POD_CIDR_PREFIX} dev ${bridge}`,
    `link set ${bridge} up`,
    // ClusterIPs are local to the node: DNAT happens before routing, and a port with no endpoints
    // reaches the input chain where it is rejected.
    `route replace local ${SERVICE_CIDR} dev lo`,
  ]);
  await run(['ip', 'netns', 'exec', nodeNetns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await run(['ip', 'netns', 'exec', nodeNetns, NFT, '-f', '-'], { input: renderServiceRuleset(table, []) });
  await run(['ip', 'route', 'replace', 'unreachable', HOST_UNREACHABLE_CIDR]);

  const pods = new Map<string, string>(); // uid → netns
  let closed = false;

  async function createPodNetwork(podUid: string): Promise<{ netns: string; ip: string }> {
    const netns = podNetnsName(prefix, podUid);
    const veth = podVethName(prefix, podUid);
    if ((await listNetns()).includes(netns)) await removePodNetns(netns);
    const ip = ipam.allocate(podUid);
    pods.set(podUid, netns);
    try {
      await run(['ip', 'netns', 'add', netns]);
      await run(['ip', '-n', nodeNetns, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await ipBatch(nodeNetns, [`link set ${veth} master ${bridge}`, `link set dev ${veth} type bridge_slave hairpin on`, `link set ${veth} up`]);
      await ipBatch(netns, ['link set lo up', `address add ${ip}/${POD_CIDR_PREFIX} dev eth0`, 'link set eth0 up', `route add default via ${NODE_IP}`]);
      mkdirSync(join('/etc/netns', netns), { recursive: true });
    } catch (error) {
      await deletePodNetwork(podUid);
      throw error;
    }
    return { netns, ip };
  }

  async function deletePodNetwork(podUid: string): Promise<void> {
    const netns = pods.get(podUid) ?? podNetnsName(prefix, podUid);
    await removePodNetns(netns);
    pods.delete(podUid);
    ipam.release(podUid);
  }

  async function syncServices(rules: ServiceRule[]): Promise<void> {
    if (closed) return;
    await run(['ip', 'netns', 'exec', nodeNetns, NFT, '-f', '-'], { input: renderServiceRuleset(table, rules) });
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    for (const uid of [...pods.keys()]) await deletePodNetwork(uid);
    await killPids(await netnsPids(nodeNetns));
    await tryRun(['ip', 'netns', 'del', nodeNetns]);
    rmSync(join('/etc/netns', nodeNetns), { recursive: true, force: true });
    await removeHostRouteIfUnused();
  }

  return { nodeNetns, prefix, createPodNetwork, deletePodNetwork, syncServices, close };
}

/** Kills what still runs in a pod netns, then removes it and its /etc/netns dir. */
async function removePodNetns(netns: string): Promise<void> {
  await killPids(await netnsPids(netns));
  await tryRun(['ip', 'netns', 'del', netns]);
  rmSync(join('/etc/netns', netns), { recursive: true, force: true });
}

async function ipBatch(netns: string, commands: string[]): Promise<void> {
  await run(['ip', '-n', netns, '-batch', '-'], { input: commands.join('\n') + '\n' });
}

/**
 * The argv that runs `argv` inside a pod's network namespace, with its resolv.conf/hosts (from
 * /etc/netns/<netns>) and the per-pod mounts the kubelet wrote to `<podDir>/mounts`. Run as root.
 */
/** With a container, its own mounts (as `kubectl exec -c` sees them); else the first container's. */
export function execInPodArgv(netns: string, podDir: string, argv: string[], container?: string): string[] {
  const mounts = container ? join(podDir, 'containers', container, 'mounts') : join(podDir, 'mounts');
  return ['ip', 'netns', 'exec', netns, 'sh', LAUNCHER, mounts, '', ...argv];
}

/** Writes the per-pod files `ip netns exec` binds over /etc (resolv.conf, hosts). */
export function writePodEtc(netns: string, files: { resolvConf: string; hosts: string }): void {
  const dir = join('/etc/netns', netns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'resolv.conf'), files.resolvConf);
  writeFileSync(join(dir, 'hosts'), files.hosts);
}

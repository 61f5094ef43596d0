// The capture component's one entry point: wraps a command so that it runs in a user + network +
// mount + PID namespace of its own, where every TCP connection that leaves the namespace's
// loopback is redirected by nftables to the capture relay (shims/relay), which hands it to the
// daemon's capture socket; the daemon's routing table then decides per connection (cluster
// ranges up the tunnel, never-proxy and the rest direct from the host), so a table that changes
// while the command runs needs no new rules. DNS to the namespace's resolver (127.0.0.53, from a
// private /etc/resolv.conf bind-mounted over the host's in the mount namespace) goes to the
// daemon's DNS stub the same way. Loopback is the namespace's own, except for the ports asked for:
// a --host-port's connections to the namespace's 127.0.0.1 are redirected to the relay too, which
// hands them over for the host's loopback, and a --publish's port is served on the host's loopback
// by publish.ts through the relay's publish socket. IPv6 has no route inside, so
// programs fail over to IPv4 at once. The uid and gid inside are the user's own; the set-up
// shell holds the namespace's capabilities, the relay (process 1) drops them for the command.
// When tp goes away, the relay's lifeline (fd 3) closes, the relay exits, and the kernel ends the
// PID namespace with everything in it. Used by `tp run --netns`; Docker mode runs the same.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { podMountScript, type PodMount } from './mounts.js';
import { namespaceFlags, type CaptureTools } from './support.js';
import { isAlive } from '../daemon/launcher.js';

/** The namespace's resolver address: the one /etc/resolv.conf inside names. */
export const NAMESPACE_RESOLVER = '127.0.0.53';
/** The relay's ports on the namespace's loopback (private to it, so fixed; a command listening on them would clash). */
export const RELAY_TCP_PORT = 15_001;
export const RELAY_DNS_PORT = 15_053;
/** The relay's end of the lifeline: tp keeps the other end; its EOF ends the namespace. */
export const LIFELINE_FD = 3;

/** A port mapping: connections made to `from` reach `to` on the other side. */
export interface PortMap {
  from: number;
  to: number;
}

export interface CaptureOptions {
  tools: CaptureTools;
  /** The daemon's capture socket (capture-listener.ts). */
  captureSocket: string;
  /** A private directory (the user's 0700 runtime dir) for the namespace's resolv.conf. */
  stateDir: string;
  command: string;
  args: readonly string[];
  /** The host's resolv.conf, whose search and options lines are kept. Default /etc/resolv.conf. */
  hostResolvConf?: string;
  /** Loopback ports inside (from) that reach the host's loopback (to). */
  hostPorts?: readonly PortMap[];
  /** Ports inside (to) that publish.ts serves on the host's loopback (from). */
  publish?: readonly PortMap[];
  /** A pod's files to show at their original paths (mounts.ts). */
  podMounts?: readonly PodMount[];
}

export interface CaptureInvocation {
  /** Spawn this with stdio [inherit, inherit, inherit, 'pipe'] and keep fd 3's pipe open while it runs. */
  file: string;
  args: string[];
  /** The relay's process id (unshare's child), where signals for the command go; undefined before it started. */
  relayPid(unsharePid: number): number | undefined;
  /** The relay's publish socket, for publish.ts; undefined when nothing is published. */
  publishSocket?: string;
  /** Removes the namespace's files; call after the command ended. */
  dispose(): void;
}

export interface RuleOptions {
  /** Loopback ports (--host-port's INSIDE) whose connections go to the relay too, for the host's loopback. */
  hostPorts?: readonly number[];
  /** TCP from sockets of this group is left alone (Docker mode: the daemon shares the network namespace it captures, and dials out). */
  exemptGid?: number;
  tcpPort?: number;
  dnsPort?: number;
  resolver?: string;
}

/** The nftables rules inside the namespace. */
export function captureRules({ hostPorts = [], exemptGid, tcpPort = RELAY_TCP_PORT, dnsPort = RELAY_DNS_PORT, resolver = NAMESPACE_RESOLVER }: RuleOptions = {}): string {
  return [
    'table ip tp {',
    '  chain out {',
    '    type nat hook output priority -100; policy accept;',
    `    ip daddr ${resolver} udp dport 53 redirect to :${dnsPort}`,
    `    ip daddr ${resolver} tcp dport 53 redirect to :${tcpPort}`,
    ...(hostPorts.length > 0 ? [`    ip daddr 127.0.0.1 tcp dport { ${hostPorts.join(', ')} } redirect to :${tcpPort}`] : []),
    '    ip daddr 127.0.0.0/8 return',
    ...(exemptGid === undefined ? [] : [`    meta skgid ${exemptGid} return`]),
    `    meta l4proto tcp redirect to :${tcpPort}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The namespace's resolv.conf: its resolver, and the host's search and options lines. */
export function namespaceResolvConf(hostText: string, resolver = NAMESPACE_RESOLVER): string {
  const kept = hostText.split('\n').filter((line) => /^\s*(search|domain|options)\s/.test(line));
  return [`nameserver ${resolver}`, ...kept, ''].join('\n');
}

// Runs as the namespace's set-up step, with its capabilities: loopback up, a default route over
// it (so connect() to any address gets as far as the NAT rules), the rules, the resolv.conf; then
// it becomes the relay, which starts the command.
const SETUP_SCRIPT = [
  'set -e',
  'ip=$1 nft=$2 rules=$3 resolv=$4 mounts=$5',
  'shift 5',
  '"$ip" link set lo up',
  '"$ip" route add default dev lo src 127.0.0.1',
  'printf "%s" "$rules" | "$nft" -f -',
  'mount --bind "$resolv" /etc/resolv.conf',
  'eval "$mounts"',
  'exec "$@"',
].join('\n');

/** Removes namespace files that a tp killed before it could tidy up left behind (their tp is gone). */
export function sweepStaleFiles(stateDir: string): void {
  for (const name of readdirSync(stateDir)) {
    const owner = /^netns-(\d+)-\d+\.(resolv\.conf|publish\.sock)$/.exec(name)?.[1];
    if (owner && !isAlive(Number(owner))) rmSync(join(stateDir, name), { force: true });
  }
}

export function captureInvocation(options: CaptureOptions): CaptureInvocation {
  sweepStaleFiles(options.stateDir);
  const resolvPath = join(options.stateDir, `netns-${process.pid}-${Date.now()}.resolv.conf`);
  let hostText = '';
  try {
    hostText = readFileSync(options.hostResolvConf ?? '/etc/resolv.conf', 'utf8');
  } catch {
    // no host resolv.conf: the namespace's names only its resolver
  }
  writeFileSync(resolvPath, namespaceResolvConf(hostText), { mode: 0o644 });
  const hostPorts = options.hostPorts ?? [];
  const publish = options.publish ?? [];
  const publishSocket = publish.length > 0 ? resolvPath.replace(/\.resolv\.conf$/, '.publish.sock') : undefined;
  const relayOptions = [
    ...hostPorts.flatMap((map) => ['--host-port', `${map.from}:${map.to}`]),
    ...(publishSocket ? ['--publish-socket', publishSocket, ...publish.flatMap((map) => ['--publish', String(map.to)])] : []),
  ];
  const relay = [options.tools.relay, options.captureSocket, String(RELAY_TCP_PORT), String(RELAY_DNS_PORT), NAMESPACE_RESOLVER, String(LIFELINE_FD), ...relayOptions, '--', options.command, ...options.args];
  const podMounts = options.podMounts ?? [];
  const mountScript = podMountScript(podMounts, `${resolvPath}.stage`, [dirname(options.captureSocket), options.stateDir, ...podMounts.map((m) => m.source)]);
  return {
    file: options.tools.unshare,
    args: [...namespaceFlags(), '--pid', '--fork', '--mount-proc', '--kill-child', '--', 'sh', '-c', SETUP_SCRIPT, 'tp-netns', options.tools.ip, options.tools.nft, captureRules({ hostPorts: hostPorts.map((map) => map.from) }), resolvPath, mountScript, ...relay],
    publishSocket,
    relayPid: (unsharePid) => {
      try {
        const first = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(' ')[0];
        return first ? Number(first) : undefined;
      } catch {
        return undefined;
      }
    },
    dispose: () => {
      rmSync(resolvPath, { force: true });
      rmSync(`${resolvPath}.stage`, { recursive: true, force: true });
      if (publishSocket) rmSync(publishSocket, { force: true });
    },
  };
}

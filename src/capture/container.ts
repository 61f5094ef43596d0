// The capture component in a container's network namespace (Docker mode): the same rules, relay
// and resolver as `tp run --netns` (namespace.ts), for a namespace that the engine made and that
// every container started with `--network container:<name>` joins. Two halves, because the
// rules need the container's NET_ADMIN (root there) and the relay does not:
//   - startContainerRelay: run by the daemon inside the container (src/docker/entry.ts); the relay
//     listens on the namespace's loopback, hands connections to the daemon's capture socket, and
//     ends with the daemon (its lifeline);
//   - captureContainer: run from the host through the engine's `exec` as root once the daemon is
//     up: the namespace's resolv.conf (shared by the joined containers) and the nftables rules,
//     with the daemon's own group exempt, since the daemon dials out from the same namespace.
// Leaves out which engine and which container: the caller hands an exec function.
import { spawn, type ChildProcess } from 'node:child_process';
import { captureRules, LIFELINE_FD, NAMESPACE_RESOLVER, namespaceResolvConf, RELAY_DNS_PORT, RELAY_TCP_PORT } from './namespace.js';

/** Runs a program in the container as root; resolves with its stdout. */
export type ExecAsRoot = (argv: readonly string[], input?: string) => Promise<string>;

/** The rules for a container whose daemon runs with group `daemonGid`. */
export function containerRules(daemonGid: number): string {
  return captureRules({ exemptGid: daemonGid });
}

/** Points the container's resolver at the relay and installs the rules (the daemon's relay must be listening). */
export async function captureContainer(exec: ExecAsRoot, daemonGid: number): Promise<void> {
  const hostResolvConf = await exec(['cat', '/etc/resolv.conf']).catch(() => '');
  // Written in place: the engine bind-mounts this file, and joined containers see the same one.
  await exec(['sh', '-c', 'cat > /etc/resolv.conf'], namespaceResolvConf(hostResolvConf));
  await exec(['nft', '-f', '-'], containerRules(daemonGid));
}

/** Starts the relay beside the daemon; it exits when this process does (its lifeline closes). */
export function startContainerRelay(relay: string, captureSocket: string): ChildProcess {
  const stdio: ('ignore' | 'inherit' | 'pipe')[] = ['ignore', 'inherit', 'inherit'];
  while (stdio.length < LIFELINE_FD) stdio.push('ignore');
  stdio.push('pipe');
  // The relay runs a command and ends with it; here there is none but the daemon, so it waits.
  return spawn(relay, [captureSocket, String(RELAY_TCP_PORT), String(RELAY_DNS_PORT), NAMESPACE_RESOLVER, String(LIFELINE_FD), '--', 'sleep', '2147483647'], { stdio });
}

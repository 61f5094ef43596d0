// `tp run --netns` and `--try-netns`: whether the command runs inside tp's capture namespace
// (src/capture), decided once the daemon is connected. --netns insists: where the machine says no
// (user namespaces off, AppArmor's restriction, nft missing, no relay, a daemon without a
// capture socket) tp run stops with that refusal. --try-netns takes the namespace when it works
// and otherwise says why in one line and runs the command with today's layers (proxy
// settings, Node preload, LD_PRELOAD library). Leaves out the namespace itself (src/capture).
import { existsSync } from 'node:fs';
import { TpError } from '../errors.js';
import { captureSupport, type CaptureTools } from '../capture/support.js';
import { RELAY_DNS_PORT, RELAY_TCP_PORT, type PortMap } from '../capture/namespace.js';

export type NetnsMode = 'off' | 'try' | 'required';

export interface NetnsChoice {
  tools: CaptureTools;
  captureSocket: string;
}

export function chooseNetns(mode: NetnsMode, captureSocket: string, warn: (message: string) => void, env: NodeJS.ProcessEnv): NetnsChoice | undefined {
  if (mode === 'off') return undefined;
  const support = captureSupport(env);
  let error = support.ok ? undefined : support.error;
  if (!error && !existsSync(captureSocket)) {
    error = new TpError('TP_ERR_NETNS_DAEMON', 'The running tp daemon does not serve the capture socket that --netns needs (an older tp started it).', {
      hints: ['Run `tp quit` and try again: tp run then starts a daemon of this version.'],
    });
  }
  if (support.ok && !error) return { tools: support.tools, captureSocket };
  if (mode === 'required') throw error;
  warn(`--try-netns: ${error!.message} Running with proxy settings and preload libraries instead.`);
  return undefined;
}

/**
 * `--host-port` and `--publish` values: "PORT" or "FROM:TO", where FROM is the port connections
 * are made to (inside for --host-port, the host's for --publish) and TO the port they reach.
 */
export function parsePortMaps(flag: '--host-port' | '--publish', specs: readonly string[] = []): PortMap[] {
  const maps = specs.map((spec) => {
    const match = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(spec.trim());
    const from = Number(match?.[1]);
    const to = Number(match?.[2] ?? match?.[1]);
    if (!match || from < 1 || from > 65_535 || to < 1 || to > 65_535) {
      throw new TpError('TP_ERR_RUN_BAD_PORT', `${flag} ${JSON.stringify(spec.slice(0, 40))} is not a port or a FROM:TO pair of ports.`, {
        hints: [flag === '--host-port' ? 'E.g. --host-port 5432 (the host\'s 5432 at 127.0.0.1:5432 inside) or --host-port 5432:15432 (the host\'s 15432 at 5432 inside).' : 'E.g. --publish 8080 (the command\'s 8080 at 127.0.0.1:8080 on the host) or --publish 18080:8080 (at 18080 on the host).'],
      });
    }
    return { from, to };
  });
  const inside = maps.map((map) => (flag === '--host-port' ? map.from : map.to));
  const taken = inside.find((port) => port === RELAY_TCP_PORT || port === RELAY_DNS_PORT);
  if (taken) throw new TpError('TP_ERR_RUN_BAD_PORT', `${flag}: port ${taken} inside the namespace is the capture relay's own.`, { hints: ['Use another port inside the namespace.'] });
  const twice = (flag === '--host-port' ? inside : maps.map((map) => map.from)).find((port, index, all) => all.indexOf(port) !== index);
  if (twice) throw new TpError('TP_ERR_RUN_BAD_PORT', `${flag} names port ${twice} twice.`, { hints: ['Give each port once.'] });
  return maps;
}

/** A port cannot both reach the host (--host-port) and be served to it (--publish) inside. */
export function checkPortMaps(hostPorts: readonly PortMap[], publish: readonly PortMap[]): void {
  const clash = hostPorts.find((map) => publish.some((published) => published.to === map.from));
  if (clash) {
    throw new TpError('TP_ERR_RUN_BAD_PORT', `Port ${clash.from} inside the namespace is given both to --host-port and to --publish.`, {
      hints: ['--host-port makes the host\'s port appear inside; --publish makes a port the command listens on appear on the host. Pick one for each port.'],
    });
  }
}

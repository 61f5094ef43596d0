// What runs as the Docker-mode container's process (`tp docker entry`): the user's daemon, as
// `tp daemon run` has it, plus what a container needs around it:
//   - a forward from the kubeconfig's loopback API address to the host's API relay, so a
//     kubeconfig whose server is on the host's loopback (kind, minikube, a local cluster) keeps
//     its server name and TLS checks unchanged;
//   - forwards from the container's published ports to the daemon's doors, which listen on the
//     container's loopback (the doors ask for credentials: connections through published ports
//     do not show who made them);
//   - the capture relay (src/capture/container.ts) for containers that join this one's network.
// Leaves out the host's side (launch.ts) and the rules, which need root there.
import { runDaemon } from '../daemon/daemon.js';
import type { DaemonConfig } from '../daemon/config.js';
import { daemonPaths, ensureDaemonDirs } from '../daemon/paths.js';
import { ControlCaller } from '../daemon/control-caller.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import type { StartFeature } from '../daemon/feature.js';
import { startContainerRelay } from '../capture/container.js';
import { RELAY_BINARY } from '../capture/support.js';
import { logger } from '../log/logger.js';
import { startForward } from './forward.js';

const log = logger('tp:docker:entry');

/** The container's ports that the engine publishes on the host's 127.0.0.1. */
export const CONTAINER_PORTS = { socks: 15_080, http: 15_081 } as const;

export interface EntryOptions {
  config: DaemonConfig;
  /** The kubeconfig's loopback API port, forwarded to the host's relay at relayHost:relayPort. */
  api?: { port: number; relayHost: string; relayPort: number };
  features: readonly StartFeature[];
}

export async function runEntry({ config, api, features }: EntryOptions): Promise<void> {
  if (api) await startForward({ listenHost: '127.0.0.1', listenPort: api.port, toHost: api.relayHost, toPort: api.relayPort });
  const paths = daemonPaths();
  ensureDaemonDirs(paths);
  await runDaemon(config, paths, features);
  const control = await ControlCaller.connect(paths.controlSocket, 5000);
  try {
    const withDoors = await waitForStatus(control, (status) => !!status.listeners);
    if (!withDoors.listeners) return;
    const port = (address: string): number => Number(address.split(':').pop());
    await startForward({ listenHost: '0.0.0.0', listenPort: CONTAINER_PORTS.socks, toHost: '127.0.0.1', toPort: port(withDoors.listeners.socks), maxConnections: 16_384 });
    await startForward({ listenHost: '0.0.0.0', listenPort: CONTAINER_PORTS.http, toHost: '127.0.0.1', toPort: port(withDoors.listeners.http), maxConnections: 16_384 });
    const withRun = await waitForStatus(control, (status) => !!captureSocketOf(status));
    const captureSocket = captureSocketOf(withRun);
    if (!captureSocket) return;
    const relay = startContainerRelay(RELAY_BINARY, captureSocket);
    relay.once('exit', (code) => log.warn('!! the capture relay exited (%s): containers on this network are no longer captured', code));
  } finally {
    control.close();
  }
}

function captureSocketOf(status: DaemonStatus): string | undefined {
  return (status.features?.run as { captureSocket?: string } | undefined)?.captureSocket;
}

/** The daemon's status once `ready` holds for it, or once it failed. */
async function waitForStatus(control: ControlCaller, ready: (status: DaemonStatus) => boolean): Promise<DaemonStatus> {
  for (;;) {
    const status = await control.call<DaemonStatus>('status');
    if (ready(status) || status.phase === 'failed') return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

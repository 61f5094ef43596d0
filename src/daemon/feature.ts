// How the daemon's larger abilities plug in without the daemon knowing them: a feature starts
// once the daemon is connected, gets what it needs (the manager link, the control server to add
// methods to, the routing table, the cluster Dial, the listeners), reports its own status section,
// and closes with the daemon. `tp run`'s redirect listener and `tp intercept`'s local end are
// features; the command that starts the daemon (src/commands/daemon/run.ts) hands them to it.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dial } from '../proxy/dial.js';
import type { DoorCredentials } from '../proxy/door-credentials.js';
import type { OwnerGate } from '../proxy/owner-gate.js';
import type { RoutingTable } from '../proxy/routing.js';
import type { ControlServer } from './control-server.js';
import type { DaemonConfig } from './config.js';
import type { ManagerLink } from './manager-link.js';
import type { DaemonPaths } from './paths.js';

/** Where the daemon's front doors listen, as `tp status` shows them. */
export interface DaemonListeners {
  socks: string;
  http: string;
  /** The PAC file's URL (with its key where the doors ask for credentials). */
  pac: string;
  dns: string;
  /** Where the doors ask for credentials (owner-gate.ts): what proxy URLs must carry. */
  credentials?: DoorCredentials;
}

export interface DaemonContext {
  config: DaemonConfig;
  paths: DaemonPaths;
  kc: KubeConfig;
  /** The namespace the user connected to. */
  namespace: string;
  link: ManagerLink;
  control: ControlServer;
  table(): RoutingTable;
  /** The front doors' Dial: cluster targets through the tunnel, others direct. */
  dial: Dial;
  listeners: DaemonListeners;
  /** The environment tp started in (before tp set any proxy variables). */
  env: NodeJS.ProcessEnv;
  /** Who may use the daemon's loopback doors (owner-gate.ts). */
  gate: OwnerGate;
}

export interface DaemonFeature {
  name: string;
  /** This feature's section of `tp status` (JSON-serialisable). */
  status?(): unknown;
  close(): Promise<void>;
}

export type StartFeature = (context: DaemonContext) => Promise<DaemonFeature>;

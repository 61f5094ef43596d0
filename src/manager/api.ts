// The traffic-manager's session API: the control-channel methods and events that clients
// (laptop daemons, and later traffic-agents) use over a tunnel session. Shared by the manager
// (server side) and the daemon (client side) so both compile against one definition.
// Compatibility: fields may be added (receivers ignore unknown ones); renaming or removing one
// needs the tunnel PROTOCOL_VERSION bumped.
import type { ClusterInfo } from './cluster-info.js';

export const ManagerMethod = {
  /** First request on every tunnel session: who the client is; returns its session. */
  hello: 'manager.hello',
  /** A DNS question answered by the manager pod's resolver (the cluster's DNS). */
  resolve: 'manager.resolve',
} as const;

export const ManagerEvent = {
  /** Sent to every client session when the cluster info changes. */
  clusterInfo: 'manager.cluster-info',
} as const;

export interface HelloParams {
  /** user@host, for `tp list` and logs. */
  client: string;
  namespace: string;
  version: string;
  /** A session id from an earlier hello, to resume it after a reconnect. */
  resume?: string;
}

export interface HelloResult {
  sessionId: string;
  /** True when `resume` named a session the manager still had. */
  resumed: boolean;
  managerVersion: string;
  clusterInfo: ClusterInfo;
  /** A client that sends nothing for this long loses its session. */
  sessionTtlMs: number;
}

export interface ResolveParams {
  name: string;
  /** A, AAAA, SRV, PTR, CNAME or TXT. */
  type: string;
}

export type ResolvedRecord =
  | { type: 'A' | 'AAAA'; name: string; ttl: number; address: string }
  | { type: 'CNAME' | 'PTR'; name: string; ttl: number; target: string }
  | { type: 'TXT'; name: string; ttl: number; text: string[] }
  | { type: 'SRV'; name: string; ttl: number; priority: number; weight: number; port: number; target: string };

export interface ResolveResult {
  /** DNS rcode: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN. */
  rcode: number;
  answers: ResolvedRecord[];
}

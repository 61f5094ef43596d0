// The control API: the methods and events that tp's programs send each other over a tunnel
// session's control channel (src/tunnel/control-channel.ts), above the frames of
// src/tunnel/protocol.ts. Laptop daemons and traffic-agents call the traffic-manager; the manager
// pushes events to both. Shared by all three so each compiles against one definition.
//
// API_VERSION and compatibility rules
// - The manager's hello result carries its API_VERSION (managers before 2 sent none: 1). A daemon
//   refuses a manager of another API_VERSION with a hint to upgrade it, rather than failing later
//   on a renamed field. Agents run the manager's own image, so they always match it. The tunnel's
//   PROTOCOL_VERSION is separate and covers only frames.
// - Bump API_VERSION when a method, event or field is renamed or removed, a field changes type or
//   meaning, or a well-known name or port in names.ts changes.
// - No bump is needed to add a method, an event or an optional field: receivers ignore unknown
//   fields, and a caller of a method its peer lacks gets the control channel's no-method error.
import type { ClusterInfo } from './cluster-info.js';

// 2: InterceptSpec and InterceptInfo name the laptop end laptopAddress/laptopPort (were localAddress/localPort).
export const API_VERSION = 2;

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
  /** The manager's API_VERSION; absent from managers before API 2. */
  apiVersion?: number;
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

// ---------------------------------------------------------------------------------------------
// Intercepts. Three parties: the client (laptop daemon), the manager, the traffic-agent (sidecar
// in the intercepted workload's pods). All calls below go over tunnel sessions to the manager.
//
// Who calls what:
//   client → manager   InterceptMethod.create / remove / list, AgentMethod.uninstall
//   agent  → manager   AgentMethod.hello (once per tunnel), AgentMethod.ready
//   manager → agent    InterceptEvent.agentIntercepts (the full list for that agent's workload)
//   manager → client   InterceptEvent.progress (while an agent rolls out), InterceptEvent.changed
// Streams:
//   agent opens a stream to the manager with host = INTERCEPT_STREAM_HOST, port 0 and metadata
//   { intercept: <id>, peer: "<ip>:<port>" } for each intercepted connection (or request, for
//   personal intercepts); the manager opens a stream to the owning client with host = the
//   intercept's laptopAddress, port = laptopPort and the same metadata, and splices the two.
// ---------------------------------------------------------------------------------------------

export const INTERCEPT_STREAM_HOST = 'tp.intercept';

// Volume copies (docs/volumes.md): the client opens a stream to the manager with host =
// VOLUMES_STREAM_HOST, port 0 and metadata VolumesStreamMetadata; the manager checks that the
// client's session holds an intercept of that workload, opens a stream with the same host and
// metadata to that pod's agent and splices the two (an ingest of the workload counts too). What flows inside is src/volumes/sync-frames.ts.
export const VOLUMES_STREAM_HOST = 'tp.volumes';

// Ingests (`tp ingest`): the pod's environment and files without intercepting traffic. The
// client proves its right to patch the workload (as for a create), the manager makes sure the
// workload has an agent (the same injection; traffic keeps flowing to the app) and answers with
// the app container's environment and the pod to copy files from; the client may then open
// volume streams for that workload until it removes the ingest or its session expires.
export const IngestMethod = {
  /** IngestParams → IngestResult. */
  create: 'ingest.create',
  /** IngestResult['workload'] → { removed: boolean }. */
  remove: 'ingest.remove',
} as const;

export interface IngestParams {
  namespace: string;
  workload: string;
  /** Must be the container the traffic-agent serves when given. */
  container?: string;
  /** From IngestMethod.create's InterceptMethod.challenge (rbac-proof.ts). */
  proof?: string;
}

export interface IngestResult {
  workload: { kind: WorkloadKind; name: string; namespace: string };
  container: string;
  pod: string;
  podIp: string;
  environment: Record<string, string>;
}

export interface VolumesStreamMetadata {
  namespace: string;
  kind: WorkloadKind;
  workload: string;
  /** The agent's pod IP (TP_POD_IP of the create's environment). */
  podIp: string;
}

export const InterceptMethod = {
  create: 'intercept.create',
  remove: 'intercept.remove',
  list: 'intercept.list',
  /** Before create or uninstall: a nonce the client writes onto the workloads (rbac-proof.ts). */
  challenge: 'intercept.challenge',
} as const;

export const AgentMethod = {
  hello: 'agent.hello',
  ready: 'agent.ready',
  uninstall: 'agent.uninstall',
} as const;

export const InterceptEvent = {
  /** manager → agent: every intercept that currently applies to the agent's workload. */
  agentIntercepts: 'intercept.agent-intercepts',
  /** manager → client: rollout/agent progress for a pending create (body: InterceptProgress). */
  progress: 'intercept.progress',
  /** manager → client: one of the client's intercepts changed state or was removed. */
  changed: 'intercept.changed',
} as const;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'ReplicaSet';

export interface InterceptSpec {
  /** Defaults to `<workload>` (`<workload>-<namespace>` when the namespace differs from the client's). */
  name?: string;
  workload: string;
  namespace: string;
  /** Service to intercept when several select the workload. */
  service?: string;
  /** Service port name or number; optional when the service has one port. */
  servicePort?: string;
  /** Where the client's side connects, on the laptop. */
  laptopAddress: string;
  laptopPort: number;
  /** Personal intercept: all given headers must match (names case-insensitive, exact values). */
  headers?: Record<string, string>;
  /** Personal intercept: the request path must start with this. */
  pathPrefix?: string;
  /** The nonce from InterceptMethod.challenge the client wrote onto the workload. */
  proof?: string;
  /** When the cluster refuses the pods with the agent, leave the injection in place (to inspect) instead of undoing it. */
  keepFailedInjection?: boolean;
}

export type InterceptState = 'WAITING' | 'ACTIVE' | 'REMOVED' | 'FAILED';

export interface InterceptInfo {
  id: string;
  name: string;
  state: InterceptState;
  /** Human-readable reason for WAITING/FAILED/REMOVED. */
  message?: string;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  service: { name: string; port: number; portName?: string; targetPort: string | number };
  /** The app container that is intercepted and its port. */
  container: string;
  containerPort: number;
  mode: 'global' | 'personal';
  headers?: Record<string, string>;
  pathPrefix?: string;
  laptopAddress: string;
  laptopPort: number;
  /** The client session holding it and who that is (user@host). */
  clientSession: string;
  client: string;
  createdAt: string;
}

export interface InterceptCreateResult {
  intercept: InterceptInfo;
  /** The app container's environment as the agent sees it, plus TP_INTERCEPT_ID, TP_CONTAINER, TP_POD_IP. */
  environment: Record<string, string>;
}

export interface InterceptProgress {
  workload: string;
  message: string;
}

export interface AgentHelloParams {
  workload: { kind: WorkloadKind; name: string; namespace: string };
  pod: string;
  podIp: string;
  container: string;
  /** The ports the agent took over: agentPort is where it listens, appPort the app's own. */
  ports: { name?: string; agentPort: number; appPort: number }[];
  /** The app container's environment (the agent container is given the same at injection). */
  environment: Record<string, string>;
  version: string;
}

/** agent → manager: the intercept ids the agent applied from its latest agentIntercepts list. */
export interface AgentReadyParams {
  ids: string[];
}

/** client → manager: InterceptMethod.remove. */
export interface InterceptRemoveParams {
  /** The intercept's id, or its name among the calling client's intercepts. */
  id?: string;
  name?: string;
}

/** client → manager: InterceptMethod.list. */
export interface InterceptListParams {
  namespace: string;
}

export interface WorkloadListEntry {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  agentInstalled: boolean;
  /** Pods of the workload whose agent is connected to the manager. */
  agentsConnected: number;
  intercepts: InterceptInfo[];
}

export interface InterceptListResult {
  namespace: string;
  workloads: WorkloadListEntry[];
}

/** client → manager: AgentMethod.uninstall (one workload, or every agent in the namespace). */
export interface AgentUninstallParams {
  namespace: string;
  workload?: string;
  all?: boolean;
  /** The nonce from InterceptMethod.challenge the client wrote onto every workload to restore. */
  proof?: string;
}

/**
 * client → manager: InterceptMethod.challenge. The manager names the workloads the operation
 * would change; the client proves it may patch each by writing `nonce` into the annotation
 * `annotation` with its own credentials, then sends the nonce as `proof`.
 */
export interface ChallengeParams {
  namespace: string;
  /** For a create or a one-workload uninstall. */
  workload?: string;
  /** For an uninstall of every agent in the namespace. */
  all?: boolean;
}

export interface ProofWorkload {
  kind: WorkloadKind;
  name: string;
  namespace: string;
}

export interface ChallengeResult {
  nonce: string;
  annotation: string;
  workloads: ProofWorkload[];
  expiresInMs: number;
}

export interface AgentUninstallResult {
  /** `Kind/name` of each workload restored. */
  restored: string[];
  /** Intercepts that ended because their agent went away. */
  removedIntercepts: string[];
}

/** manager → client: InterceptEvent.changed. */
export interface InterceptChangedBody {
  intercept: InterceptInfo;
}

export interface AgentInterceptsBody {
  intercepts: Pick<InterceptInfo, 'id' | 'name' | 'mode' | 'headers' | 'pathPrefix' | 'containerPort' | 'client'>[];
}

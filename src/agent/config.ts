// The traffic-agent's settings, read from the environment the manager gives the injected
// container (the agent contract): TP_AGENT_MANAGER_URL, TP_AGENT_TOKEN, TP_AGENT_WORKLOAD
// (`<Kind>/<name>`), TP_AGENT_CONTAINER, TP_AGENT_NAMESPACE, TP_AGENT_POD, TP_AGENT_POD_IP and
// TP_AGENT_PORTS (JSON `[{name?, agentPort, appPort}]`), TP_AGENT_MOUNTS (JSON `[{path, at, rw}]`:
// the app container's volume mounts and where the agent sees them) and TP_AGENT_HEALTH_PORT (where
// the agent answers its readiness probe; absent in agents injected before it existed). Every
// value is checked and a bad one gets an AgentConfigError naming the variable; values are never
// echoed back for the token.
// Also computes the app environment the agent reports: its own env minus every TP_AGENT_*
// variable (the manager copied the app container's env and envFrom into the agent's container).
// Leaves out listening and connecting (agent.ts). Used by `tp agent serve` and the tests.
import { TpError } from '../errors.js';
import type { WorkloadKind } from '../api/control-api.js';
import type { AgentMount } from '../volumes/source.js';

export const AGENT_ENV_PREFIX = 'TP_AGENT_';

const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'ReplicaSet'];
/** TCP port numbers, RFC 793. */
const MAX_PORT = 65_535;
/** More ports than a pod would ever expose through one agent is a bad value, not a plan. */
const MAX_AGENT_PORTS = 64;

export interface AgentPort {
  /** The Service's (original) port name the agent took over, when it was named. */
  name?: string;
  /** Where the agent listens (0 = any free port; tests only). */
  agentPort: number;
  /** The app container's own port, on the pod's loopback. */
  appPort: number;
}

export interface AgentConfig {
  managerUrl: string;
  token: string;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  container: string;
  pod: string;
  podIp: string;
  ports: AgentPort[];
  /** The app container's environment as the agent sees it (no TP_AGENT_* variables). */
  environment: Record<string, string>;
  /** The app container's volume mounts, for volume copies (none when absent). */
  mounts?: AgentMount[];
  /** Where the agent answers `GET /ready` for the kubelet (no health listener when absent). */
  healthPort?: number;
}

export class AgentConfigError extends TpError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('TP_ERR_AGENT_CONFIG', `${variable}: ${message}`, {
      hints: ['The traffic-manager sets these when it injects the agent; reinstall the agent with `tp uninstall --agent <workload>` and intercept again.'],
    });
    this.name = 'AgentConfigError';
    this.variable = variable;
  }
}

/** Reads and checks the agent's settings from `env` (normally process.env). */
export function parseAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const required = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) throw new AgentConfigError(name, 'is not set');
    return value;
  };
  const managerUrl = parseManagerUrl(required('TP_AGENT_MANAGER_URL'));
  const token = required('TP_AGENT_TOKEN');
  const namespace = required('TP_AGENT_NAMESPACE');
  const workload = parseWorkload(required('TP_AGENT_WORKLOAD'), namespace);
  const ports = parsePorts(required('TP_AGENT_PORTS'));
  return {
    managerUrl,
    token,
    workload,
    container: required('TP_AGENT_CONTAINER'),
    pod: required('TP_AGENT_POD'),
    podIp: env.TP_AGENT_POD_IP?.trim() ?? '',
    ports,
    environment: appEnvironment(env),
    mounts: parseMounts(env.TP_AGENT_MOUNTS?.trim() || '[]'),
    ...healthPortOf(env.TP_AGENT_HEALTH_PORT?.trim(), ports),
  };
}

/** TP_AGENT_HEALTH_PORT: a port none of the agent's or app's ports use. */
function healthPortOf(value: string | undefined, ports: AgentPort[]): { healthPort?: number } {
  if (!value) return {};
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!isPort(port, 1)) throw new AgentConfigError('TP_AGENT_HEALTH_PORT', `needs a port number (1-${MAX_PORT})`);
  if (ports.some((p) => p.agentPort === port || p.appPort === port)) throw new AgentConfigError('TP_AGENT_HEALTH_PORT', `port ${port} is also in TP_AGENT_PORTS`);
  return { healthPort: port };
}

/** Parses TP_AGENT_MOUNTS: absolute, clean paths only. */
export function parseMounts(value: string): AgentMount[] {
  const variable = 'TP_AGENT_MOUNTS';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new AgentConfigError(variable, 'is not JSON (expected [{"path":"/etc/app","at":"/tp/volumes/etc/app","rw":false}])');
  }
  if (!Array.isArray(parsed) || parsed.length > MAX_AGENT_PORTS * 4) throw new AgentConfigError(variable, 'needs a JSON array of at most 256 mounts');
  const clean = (p: unknown): p is string => typeof p === 'string' && p.startsWith('/') && p.length > 1 && p.length < 4096 && !p.slice(1).split('/').some((s) => s === '' || s === '.' || s === '..');
  return parsed.map((entry: unknown, index): AgentMount => {
    const { path, at, rw } = (entry ?? {}) as Record<string, unknown>;
    if (!clean(path) || !clean(at)) throw new AgentConfigError(variable, `entry ${index} needs clean absolute path and at`);
    return { path, at, rw: rw === true };
  });
}

/** `env` without the agent's own TP_AGENT_* settings (and without unset entries). */
export function appEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !key.startsWith(AGENT_ENV_PREFIX)) result[key] = value;
  }
  return result;
}

function parseManagerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AgentConfigError('TP_AGENT_MANAGER_URL', `"${value.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new AgentConfigError('TP_AGENT_MANAGER_URL', `needs a ws:// or wss:// URL, got ${url.protocol}//`);
  }
  return url.toString();
}

function parseWorkload(value: string, namespace: string): AgentConfig['workload'] {
  const slash = value.indexOf('/');
  const kind = value.slice(0, slash) as WorkloadKind;
  const name = value.slice(slash + 1);
  if (slash < 0 || !WORKLOAD_KINDS.includes(kind) || name === '' || name.includes('/')) {
    throw new AgentConfigError('TP_AGENT_WORKLOAD', `needs <Kind>/<name> with Kind one of ${WORKLOAD_KINDS.join(', ')}, got "${value.slice(0, 200)}"`);
  }
  return { kind, name, namespace };
}

/** Parses TP_AGENT_PORTS; exported for tests and for callers that build a config by hand. */
export function parsePorts(value: string, options: { allowAnyAgentPort?: boolean } = {}): AgentPort[] {
  const variable = 'TP_AGENT_PORTS';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new AgentConfigError(variable, 'is not JSON (expected [{"name":"http","agentPort":9900,"appPort":8080}])');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new AgentConfigError(variable, 'needs a non-empty JSON array');
  if (parsed.length > MAX_AGENT_PORTS) throw new AgentConfigError(variable, `lists ${parsed.length} ports; at most ${MAX_AGENT_PORTS} are allowed`);
  const minAgentPort = options.allowAnyAgentPort ? 0 : 1;
  const seen = new Set<number>();
  const ports = parsed.map((entry: unknown, index): AgentPort => {
    if (entry === null || typeof entry !== 'object') throw new AgentConfigError(variable, `entry ${index} is not an object`);
    const { name, agentPort, appPort } = entry as Record<string, unknown>;
    if (!isPort(agentPort, minAgentPort)) throw new AgentConfigError(variable, `entry ${index} has no valid agentPort (1-${MAX_PORT})`);
    if (!isPort(appPort, 1)) throw new AgentConfigError(variable, `entry ${index} has no valid appPort (1-${MAX_PORT})`);
    if (name !== undefined && (typeof name !== 'string' || name === '')) throw new AgentConfigError(variable, `entry ${index} has a name that is not a non-empty string`);
    if (agentPort !== 0 && seen.has(agentPort)) throw new AgentConfigError(variable, `agentPort ${agentPort} is listed twice`);
    if (agentPort === appPort) throw new AgentConfigError(variable, `entry ${index} uses port ${agentPort} for both the agent and the app`);
    seen.add(agentPort);
    return name === undefined ? { agentPort, appPort } : { name, agentPort, appPort };
  });
  // What an injector that lost track of the app's ports would render (one port on both sides, a
  // name twice): refused here rather than served as a forwarding loop or a pod Kubernetes refuses.
  const loop = ports.find((p) => p.agentPort !== 0 && ports.some((q) => q.appPort === p.agentPort));
  if (loop) throw new AgentConfigError(variable, `agentPort ${loop.agentPort} is also an appPort`);
  const named = ports.flatMap((p) => (p.name === undefined ? [] : [p.name]));
  const twice = named.find((name, i) => named.indexOf(name) !== i);
  if (twice !== undefined) throw new AgentConfigError(variable, `the name "${twice}" is listed twice`);
  return ports;
}

function isPort(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= MAX_PORT;
}

// tp's error type and the one registry of its codes. Every code a user or script can meet is
// `TP_ERR_<AREA>_<WHAT>` (a few older ones without an area keep their names for scripts) and is
// listed in ERROR_CODES below with its category (who has to act) and the hints that always apply
// to it; TpError takes only a registered code, so the type system rejects a typo or an
// unregistered code. The CLI prints hints as "Try this:"; `--output json` carries the code.
// docs/errors.md lists the codes renamed when the scheme became one.
// Leaves out the tunnel's own error class (src/tunnel/errors.ts imports nothing of tp): its codes
// are registered here too, and the compiler checks that none is missing.
import type { TunnelErrorCode } from './tunnel/errors.js';

/** Who has to act: the user (bad input), their config/environment, or us (a bug, see the logs). */
export type ErrorCategory = 'user' | 'config' | 'internal';

export interface ErrorSpec {
  category: ErrorCategory;
  /** Advice that holds wherever the code is thrown; a thrower's own hints replace it. */
  hints?: readonly string[];
}

const user: ErrorSpec = { category: 'user' };
const config: ErrorSpec = { category: 'config' };
const internal: ErrorSpec = { category: 'internal' };

// The tunnel's codes (src/tunnel/errors.ts); a Record over its union, so adding one there fails
// the build until it is registered here.
const TUNNEL_CODES: Record<TunnelErrorCode, ErrorSpec> = {
  TP_ERR_TUNNEL_PROTOCOL: internal,
  TP_ERR_TUNNEL_VERSION: config,
  TP_ERR_TUNNEL_OPEN: user,
  TP_ERR_TUNNEL_STREAM_RESET: user,
  TP_ERR_TUNNEL_SESSION_CLOSED: config,
  TP_ERR_TUNNEL_PEER_TIMEOUT: config,
  TP_ERR_TUNNEL_GOING_AWAY: config,
  TP_ERR_TUNNEL_LIMIT: user,
  TP_ERR_TUNNEL_RPC_TIMEOUT: config,
  TP_ERR_TUNNEL_RPC_FAILED: internal,
  TP_ERR_TUNNEL_RPC_NO_METHOD: config,
  TP_ERR_TUNNEL_UNAUTHORIZED: config,
  TP_ERR_TUNNEL_CONNECT: config,
  TP_ERR_TUNNEL_INVALID_ARGUMENT: internal,
  TP_ERR_TUNNEL_NO_SESSION: config,
};

export const ERROR_CODES = {
  // CLI and flags
  TP_ERR_UNEXPECTED: internal,
  TP_ERR_LOG_LEVEL: user,
  TP_ERR_CONFIG_FILE: config,
  TP_ERR_GATHER_OUTPUT: user,
  TP_ERR_UNINSTALL_WHAT: user,
  TP_ERR_NOT_CONNECTED: user,
  TP_ERR_CONNECTED_ELSEWHERE: user,
  TP_ERR_CONNECT_TIMEOUT: user,
  TP_ERR_PORT_IN_USE: user,
  // kubeconfig and the Kubernetes API
  TP_ERR_INSTALL_BAD_IMAGE: user,
  TP_ERR_KUBECONFIG: config,
  TP_ERR_UNKNOWN_CONTEXT: config,
  TP_ERR_NO_CLUSTER: config,
  TP_ERR_KUBE_API: config,
  TP_ERR_KUBE_FORBIDDEN: config,
  TP_ERR_KUBE_NO_CREDENTIALS: config,
  TP_ERR_KUBE_UNAUTHORIZED: config,
  TP_ERR_KUBE_UNREACHABLE: config,
  TP_ERR_PORT_FORWARD: config,
  // the daemon and its control socket
  TP_ERR_DAEMON_START: internal,
  TP_ERR_DAEMON_INTERNAL: internal,
  TP_ERR_DAEMON_GONE: user,
  TP_ERR_DAEMON_NOT_RUNNING: user,
  TP_ERR_DAEMON_TIMEOUT: user,
  TP_ERR_CONTROL_BUSY: user,
  TP_ERR_CONTROL_MALFORMED: user,
  TP_ERR_CONTROL_UNKNOWN_METHOD: user,
  TP_ERR_BAD_HANDOVER: internal,
  TP_ERR_BAD_MAX_CONNECTIONS: user,
  TP_ERR_DOOR_CHECK: config,
  // the traffic-manager
  TP_ERR_MANAGER_BAD_HELLO: user,
  TP_ERR_MANAGER_NOT_INSTALLED: config,
  TP_ERR_MANAGER_NOT_READY: config,
  TP_ERR_MANAGER_NO_IMAGE: user,
  TP_ERR_MANAGER_NO_TOKEN: config,
  TP_ERR_MANAGER_API_VERSION: config,
  TP_ERR_MANAGER_UNAUTHORIZED: user,
  TP_ERR_MANAGER_UNREACHABLE: config,
  TP_ERR_MANAGER_VERSION: user,
  TP_ERR_AGENT_CONFIG: config,
  // tp run
  TP_ERR_RUN_NOT_CONNECTED: user,
  TP_ERR_RUN_NOT_FOUND: user,
  TP_ERR_RUN_NO_COMMAND: user,
  TP_ERR_RUN_BAD_PORT: user,
  TP_ERR_RUN_BAD_NETNS: user,
  // tp run --netns (src/capture): the kernel or the machine says no to an unprivileged namespace
  TP_ERR_NETNS_USERNS_DISABLED: config,
  TP_ERR_NETNS_APPARMOR: config,
  TP_ERR_NETNS_TOOL_MISSING: config,
  TP_ERR_NETNS_RELAY_MISSING: config,
  TP_ERR_NETNS_REFUSED: config,
  TP_ERR_NETNS_DAEMON: config,
  // Docker mode (src/docker): the engine, the image, the container and its name
  TP_ERR_DOCKER_NO_ENGINE: config,
  TP_ERR_DOCKER_IMAGE_MISSING: config,
  TP_ERR_DOCKER_NAME_IN_USE: user,
  TP_ERR_DOCKER_BAD_NAME: { category: 'user', hints: ['A connection name is letters, digits, ".", "_" and "-", starting with a letter or digit, at most 60 characters.'] },
  TP_ERR_DOCKER_NET_ADMIN: config,
  TP_ERR_DOCKER_START: config,
  TP_ERR_CONNECTION_AMBIGUOUS: user,
  TP_ERR_CONNECTION_UNKNOWN: user,
  // intercepts; the manager's errors cross the tunnel as { code, message }, so their standing
  // advice lives here and the daemon gets it back by code (src/intercept/remote-error.ts).
  TP_ERR_INTERCEPT_BAD_HEADER: user,
  TP_ERR_INTERCEPT_BAD_PORT: user,
  TP_ERR_INTERCEPT_BAD_SPEC: user,
  TP_ERR_INTERCEPT_MANAGER: config,
  TP_ERR_INTERCEPT_NOT_FOUND: user,
  TP_ERR_INTERCEPT_NO_CONTAINER: user,
  TP_ERR_INTERCEPT_FORBIDDEN: config,
  TP_ERR_INTERCEPT_NO_WORKLOAD: { category: 'user', hints: ['Check the name and the namespace (-n); `tp list` shows the workloads.'] },
  TP_ERR_INTERCEPT_NO_SERVICE: { category: 'user', hints: ['An intercept takes a Service\'s traffic: create a Service for the workload, or pick one with --service.'] },
  TP_ERR_INTERCEPT_SERVICE_AMBIGUOUS: { category: 'user', hints: ['Add --service <name>.'] },
  TP_ERR_INTERCEPT_NO_PORT: { category: 'user', hints: ['Use --port <local port>:<service port name or number>.'] },
  TP_ERR_INTERCEPT_CONFLICT: { category: 'user', hints: ['`tp list` shows who holds which intercept.'] },
  TP_ERR_INTERCEPT_ROLLOUT: { category: 'user', hints: ['The workload\'s pods did not restart with the traffic-agent; its events usually say why.'] },
  TP_ERR_INTERCEPT_PODS_REFUSED: { category: 'user', hints: ['The message above is the cluster\'s own reason, and says what tp did with the workload.'] },
  TP_ERR_INTERCEPT_NOT_READY: { category: 'user', hints: ['Compare the Service\'s endpoints with the pods that run the traffic-agent: kubectl get endpoints,pods -o wide -n <namespace>; a Service that also selects pods of another workload sends them part of the traffic.'] },
  TP_ERR_INTERCEPT_NO_AGENT: { category: 'user', hints: ['Look at the agent\'s log: kubectl logs <pod> -c traffic-agent'] },
  // the front doors: dials (each maps to a SOCKS reply and an HTTP status), routing, upstream proxies
  TP_ERR_DIAL_REFUSED: user,
  TP_ERR_DIAL_UNREACHABLE: user,
  TP_ERR_DIAL_NET_UNREACHABLE: user,
  TP_ERR_DIAL_TIMEOUT: user,
  TP_ERR_DIAL_DNS: user,
  TP_ERR_DIAL_FORBIDDEN: user,
  TP_ERR_DIAL_LIMIT: user,
  TP_ERR_DIAL_FAILED: user,
  TP_ERR_ROUTING_BAD_CIDR: config,
  TP_ERR_ROUTING_BAD_CONFIG: config,
  TP_ERR_UPSTREAM_PROXY_BAD_URL: config,
  TP_ERR_SOCKS_PROTOCOL: user,
  TP_ERR_HTTP_FRAMING: { category: 'user', hints: ['The destination answered with an HTTP message a proxy cannot pass on safely; try it without the proxy (curl -v) to see what it sends.'] },
  TP_ERR_STREAM_ENDED: user,
  TP_ERR_STREAM_TOO_LONG: user,
  TP_ERR_DNS_FORWARD_FAILED: { category: 'config', hints: ['Check the resolvers in /etc/resolv.conf answer from this machine.'] },
  // volume copies (src/volumes, docs/volumes.md)
  TP_ERR_VOLUMES_COPY: { category: 'user', hints: ['Leave a mount out with --mount-exclude <path in the pod>, raise the cap with --mount-max-mb, or copy nothing with --mount=false.'] },
  TP_ERR_VOLUMES_BAD_DIR: { category: 'user', hints: ['Give --mount a directory that does not exist yet or is empty: tp removes it when the copy ends.'] },
  ...TUNNEL_CODES,
} satisfies Record<`TP_ERR_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export interface TpErrorOptions {
  cause?: unknown;
  /** Advice for this occurrence; without it the code's registered hints apply. */
  hints?: string[];
}

export class TpError extends Error {
  readonly code: ErrorCode;
  readonly hints: string[];
  readonly category: ErrorCategory;

  constructor(code: ErrorCode, message: string, options: TpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TpError';
    this.code = code;
    this.hints = options.hints ?? [...(ERROR_CODES[code].hints ?? [])];
    this.category = ERROR_CODES[code].category;
  }

  toJSON(): ErrorBody & { category: ErrorCategory } {
    return { code: this.code, message: this.message, hints: this.hints, category: this.category };
  }
}

/** A TpError as it crosses a process boundary (daemon control socket, tunnel RPC). */
export interface ErrorBody {
  code: string;
  message: string;
  hints?: string[];
}

/**
 * Rebuilds a TpError from another process's { code, message, hints }. A code this build does not
 * know (the other side runs another tp release) becomes `fallback`, with the foreign code kept
 * in the message so nothing is lost.
 */
export function errorFromBody(body: ErrorBody, fallback: ErrorCode, cause?: unknown): TpError {
  const hints = body.hints && body.hints.length > 0 ? body.hints : undefined;
  if (isErrorCode(body.code)) return new TpError(body.code, body.message, { cause, hints });
  return new TpError(fallback, `${body.message} (${body.code})`, { cause, hints });
}

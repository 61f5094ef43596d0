// How many connections the daemon carries to the cluster at once, and how the user raises it:
// TP_MAX_CONNECTIONS in the environment of `tp connect` (or of whichever command starts the
// daemon). Each tunnel to the manager carries up to Defaults.MAX_STREAMS streams, so the limit
// also decides how many tunnels the pool may grow to. Beyond it a SOCKS client gets reply 0x01,
// an HTTP client 503, a `tp run` program a reset, and the daemon log says how to raise it
// (tunnel-dial.ts). Each connection also takes a file descriptor in the daemon; Node raises its
// soft RLIMIT_NOFILE to the hard one at start, and fdLimit() reads what it got.
import { readFileSync } from 'node:fs';
import { TpError } from '../errors.js';
import { Defaults, PoolDefaults } from '../tunnel/index.js';

export const MAX_CONNECTIONS_ENV = 'TP_MAX_CONNECTIONS';
/** 16 tunnels of 1,024 streams: room for a load test's 10,000 connections with a margin. */
export const DEFAULT_MAX_CONNECTIONS = 16_384;
/** A tunnel is one port-forward through the Kubernetes API; more than this is asking the API server too much. */
const MAX_TUNNELS = 256;

export interface Capacity {
  maxConnections: number;
  /** Tunnels the pool may grow to. */
  maxTunnels: number;
}

/** The capacity from TP_MAX_CONNECTIONS (default DEFAULT_MAX_CONNECTIONS); a bad value is the user's error. */
export function capacityFrom(env: NodeJS.ProcessEnv): Capacity {
  const text = env[MAX_CONNECTIONS_ENV]?.trim();
  const ceiling = MAX_TUNNELS * Defaults.MAX_STREAMS;
  const maxConnections = text ? Number(text) : DEFAULT_MAX_CONNECTIONS;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1 || maxConnections > ceiling) {
    throw new TpError('TP_ERR_BAD_MAX_CONNECTIONS', `${MAX_CONNECTIONS_ENV} must be a whole number from 1 to ${ceiling}.`, {
      hints: [`Run \`tp quit\`, then \`${MAX_CONNECTIONS_ENV}=${DEFAULT_MAX_CONNECTIONS} tp connect\` (or unset it for the default).`],
    });
  }
  return { maxConnections, maxTunnels: Math.max(PoolDefaults.SIZE, Math.ceil(maxConnections / Defaults.MAX_STREAMS)) };
}

/** What a user reads when the limit is reached: the number and how to raise it. */
export function limitAdvice(capacity: Capacity): string {
  const more = Math.min(capacity.maxConnections * 2, MAX_TUNNELS * Defaults.MAX_STREAMS);
  return `tp carries at most ${capacity.maxConnections} connections to the cluster at once; to allow more, run \`tp quit\`, then \`${MAX_CONNECTIONS_ENV}=${more} tp connect\``;
}

/** This process's soft limit on open files (Linux), or undefined where it cannot be read. */
export function fdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

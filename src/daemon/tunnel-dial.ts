// The Dial the daemon gives its front doors: cluster targets become tunnel streams to the
// manager (under the host the routing decision named, so `hello` means the connected namespace's
// `hello`, not the manager's), everything else goes direct, through the user's own upstream proxy when one was
// configured before tp. Tunnel open errors become the proxies' DialErrors with the same reason,
// so curl sees "connection refused" when the pod refused it; a connection over tp's limit
// (capacity.ts) gets TP_ERR_DIAL_LIMIT with a message that says how to raise it.
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import { DialError, type Dial, type DialErrorCode } from '../proxy/dial.js';
import { createUpstreamAwareDial } from '../proxy/upstream-proxy.js';
import { OpenError, TunnelError, type ErrorCodeName } from '../tunnel/index.js';
import { capacityFrom, fdLimit, limitAdvice } from './capacity.js';

const log = logger('tp:daemon');

/** Descriptors the daemon needs besides one per connection (listeners, tunnels, logs, DNS). */
const FD_HEADROOM = 256;

const REASON_TO_DIAL: Partial<Record<ErrorCodeName, DialErrorCode>> = {
  refused: 'TP_ERR_DIAL_REFUSED',
  unreachable: 'TP_ERR_DIAL_UNREACHABLE',
  timeout: 'TP_ERR_DIAL_TIMEOUT',
  dns: 'TP_ERR_DIAL_DNS',
  forbidden: 'TP_ERR_DIAL_FORBIDDEN',
  limit: 'TP_ERR_DIAL_LIMIT',
};

export interface TunnelDialOptions {
  open(host: string, port: number): Promise<Duplex>;
  /** The environment tp started in, for the user's upstream proxy (never tp's own). */
  env: NodeJS.ProcessEnv;
}

export function createTunnelDial(options: TunnelDialOptions): Dial {
  const direct = createUpstreamAwareDial({ env: options.env });
  const capacity = capacityFrom(options.env);
  const files = fdLimit();
  if (files !== undefined && files < capacity.maxConnections + FD_HEADROOM) {
    log.warn('!! this process may open %d files, fewer than the %d connections tp allows; raise the hard limit (ulimit -Hn) or lower TP_MAX_CONNECTIONS', files, capacity.maxConnections);
  }
  return async (target, context) => {
    if (context.via === 'direct') return direct(target, context);
    try {
      return await options.open(context.clusterHost, target.port);
    } catch (err) {
      const reason = err instanceof OpenError || err instanceof TunnelError ? err.reason : undefined;
      const code = (reason && REASON_TO_DIAL[reason]) || 'TP_ERR_DIAL_FAILED';
      const advice = code === 'TP_ERR_DIAL_LIMIT' ? `. ${limitAdvice(capacity)}` : '';
      throw new DialError(code, target, `could not connect to ${target.host}:${target.port} in the cluster: ${(err as Error).message}${advice}`, err);
    }
  };
}

/** The environment without proxy settings that point at tp's own listeners (a loop). */
export function withoutOwnProxies(env: NodeJS.ProcessEnv, ownPorts: number[]): NodeJS.ProcessEnv {
  const cleaned = { ...env };
  for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy']) {
    const value = cleaned[name];
    if (!value) continue;
    try {
      const url = new URL(value.includes('://') ? value : `http://${value}`);
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
      if (loopback && ownPorts.includes(Number(url.port))) delete cleaned[name];
    } catch {
      // not a URL: the upstream-proxy reader ignores it as well
    }
  }
  return cleaned;
}
